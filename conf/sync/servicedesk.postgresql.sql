-- miscomm intervention sync: the demo service-desk schema's mapping, PostgreSQL.
--
-- Blocks start with a line "-- [NAME] PARAM PARAM ...": the statement NAME,
-- whose "?" markers the gateway binds, in order, to the values the PARAMs
-- name (docs/admin.md, "Intervention sync", lists them). Every "init" block
-- is run, in order, by "misctl sync init", as an account that may create
-- tables and triggers (scripts/pg-demo.sh: miscomm_admin); the gateway's
-- own account (mobilesvc) gets only what it needs on the new tables.
--
-- The change log: triggers record every change of an intervention with the
-- 64-bit id of the transaction that made it. The safe horizon is the oldest
-- transaction still running (pg_snapshot_xmin): below it every transaction
-- has ended, so a window of transaction ids, once read, never gains a row,
-- whatever the order in which transactions took ids and committed.

-- [init]
CREATE TABLE IF NOT EXISTS miscomm_sync_changes (
    seq             BIGSERIAL PRIMARY KEY,
    txid            BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    intervention_id BIGINT NOT NULL,
    technician_id   BIGINT NOT NULL
)

-- [init]
CREATE INDEX IF NOT EXISTS miscomm_sync_changes_tech ON miscomm_sync_changes (technician_id, txid, seq)

-- [init]
CREATE INDEX IF NOT EXISTS miscomm_sync_changes_txid ON miscomm_sync_changes (txid)

-- [init]
CREATE TABLE IF NOT EXISTS miscomm_sync_devices (
    device_id     TEXT PRIMARY KEY,
    connection    TEXT NOT NULL,
    technician_id INTEGER NOT NULL REFERENCES technicians (id),
    revoked       INTEGER NOT NULL DEFAULT 0,
    added_at      TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')::timestamp(0),
    revoked_at    TIMESTAMP,
    last_pull_at  TIMESTAMP,
    last_push_at  TIMESTAMP
)

-- [init]
CREATE TABLE IF NOT EXISTS miscomm_sync_ops (
    op_id           TEXT PRIMARY KEY,
    device_id       TEXT NOT NULL,
    intervention_id BIGINT NOT NULL,
    result          INTEGER NOT NULL,
    flags           INTEGER NOT NULL,
    code            INTEGER NOT NULL,
    message         TEXT NOT NULL,
    version         BIGINT NOT NULL,
    applied_at      TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')::timestamp(0)
)

-- [init]
CREATE TABLE IF NOT EXISTS miscomm_sync_meta (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
)

-- [init]
INSERT INTO miscomm_sync_meta (name, value) VALUES ('devices', 0) ON CONFLICT DO NOTHING

-- [init]
CREATE OR REPLACE FUNCTION miscomm_sync_log() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $f$
BEGIN
    IF TG_OP <> 'INSERT' AND (TG_OP = 'DELETE' OR OLD.technician_id IS DISTINCT FROM NEW.technician_id) THEN
        INSERT INTO miscomm_sync_changes (intervention_id, technician_id) VALUES (OLD.id, OLD.technician_id);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO miscomm_sync_changes (intervention_id, technician_id) VALUES (NEW.id, NEW.technician_id);
    END IF;
    RETURN NULL;
END
$f$

-- [init]
CREATE OR REPLACE FUNCTION miscomm_sync_log_ticket() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $f$
BEGIN
    INSERT INTO miscomm_sync_changes (intervention_id, technician_id)
        SELECT id, technician_id FROM interventions WHERE ticket_id = NEW.id;
    RETURN NULL;
END
$f$

-- [init]
CREATE OR REPLACE TRIGGER miscomm_sync_log AFTER INSERT OR UPDATE OR DELETE ON interventions
FOR EACH ROW EXECUTE FUNCTION miscomm_sync_log()

-- [init]
CREATE OR REPLACE TRIGGER miscomm_sync_log_ticket AFTER UPDATE ON tickets
FOR EACH ROW EXECUTE FUNCTION miscomm_sync_log_ticket()

-- [init]
-- The interventions that exist already: one change each (none twice when init runs again).
INSERT INTO miscomm_sync_changes (intervention_id, technician_id)
    SELECT i.id, i.technician_id FROM interventions i
    WHERE NOT EXISTS (SELECT 1 FROM miscomm_sync_changes c WHERE c.intervention_id = i.id)
    ORDER BY i.id

-- [init]
GRANT SELECT ON miscomm_sync_changes, miscomm_sync_meta TO mobilesvc

-- [init]
GRANT SELECT, INSERT, UPDATE ON miscomm_sync_devices, miscomm_sync_ops TO mobilesvc

-- [init]
GRANT UPDATE ON miscomm_sync_meta TO mobilesvc

-- [horizon]
SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint

-- [changed] low high
SELECT DISTINCT technician_id FROM miscomm_sync_changes WHERE txid >= ? AND txid < ?

-- [pull] technician low high technician after low limit
SELECT c.seq, c.intervention_id AS id, i.version, i.ticket_id, i.status,
       i.planned_start, i.planned_end, i.actual_start, i.actual_end,
       i.time_spent_minutes, i.travel_minutes, i.report, i.signatory_name,
       i.signature_file, i.signed_at, i.updated_at,
       t.number AS ticket_number, t.kind AS ticket_kind, t.title AS ticket_title,
       t.description AS ticket_description, t.priority AS ticket_priority,
       s.name AS site_name, s.address AS site_address, s.city AS site_city,
       r.code AS room_code, r.name AS room_name,
       a.asset_tag, a.kind AS asset_kind, a.model AS asset_model, a.serial_number AS asset_serial
FROM (SELECT intervention_id, MAX(seq) AS seq FROM miscomm_sync_changes
      WHERE technician_id = ? AND txid >= ? AND txid < ? GROUP BY intervention_id) c
LEFT JOIN interventions i ON i.id = c.intervention_id AND i.technician_id = ?
LEFT JOIN tickets t ON t.id = i.ticket_id
LEFT JOIN sites s ON s.id = t.site_id
LEFT JOIN rooms r ON r.id = t.room_id
LEFT JOIN assets a ON a.id = t.asset_id
WHERE c.seq > ? AND (i.id IS NOT NULL OR ? > 0)
ORDER BY c.seq
LIMIT ?

-- [row] intervention
SELECT id, version, technician_id, status, actual_start, actual_end, time_spent_minutes,
       report, signatory_name, signature_file, signed_at
FROM interventions WHERE id = ? FOR UPDATE

-- [apply] fields intervention version
UPDATE interventions
SET status = ?, actual_start = ?, actual_end = ?, time_spent_minutes = ?, report = ?,
    signatory_name = ?, signature_file = ?, signed_at = ?,
    version = version + 1, updated_at = (now() AT TIME ZONE 'UTC')::timestamp(0)
WHERE id = ? AND version = ?

-- [photo] intervention technician file_name original_name content_type size sha256 caption taken_at
INSERT INTO intervention_photos (intervention_id, technician_id, file_name, original_name,
                                 content_type, size_bytes, sha256, caption, taken_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)

-- [photo_find] file_name
SELECT intervention_id FROM intervention_photos WHERE file_name = ?

-- [op_get] op_id
SELECT result, flags, code, message, version FROM miscomm_sync_ops WHERE op_id = ?

-- [op_put] op_id device intervention result flags code message version
INSERT INTO miscomm_sync_ops (op_id, device_id, intervention_id, result, flags, code, message, version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)

-- [device] device
SELECT technician_id, revoked, connection FROM miscomm_sync_devices WHERE device_id = ?

-- [devices]
SELECT device_id, connection, technician_id, revoked FROM miscomm_sync_devices

-- [devices_version]
SELECT value FROM miscomm_sync_meta WHERE name = 'devices'

-- [device_seen] device
-- To the minute: a write (and its commit) at most once a minute per device.
UPDATE miscomm_sync_devices SET last_pull_at = (now() AT TIME ZONE 'UTC')::timestamp(0)
WHERE device_id = ? AND (last_pull_at IS NULL OR last_pull_at < (now() AT TIME ZONE 'UTC')::timestamp(0) - interval '60 seconds')

-- [device_pushed] device
-- To the minute: a write (and its commit) at most once a minute per device.
UPDATE miscomm_sync_devices SET last_push_at = (now() AT TIME ZONE 'UTC')::timestamp(0)
WHERE device_id = ? AND (last_push_at IS NULL OR last_push_at < (now() AT TIME ZONE 'UTC')::timestamp(0) - interval '60 seconds')

-- [device_add] device connection technician
INSERT INTO miscomm_sync_devices (device_id, connection, technician_id) VALUES (?, ?, ?)

-- [device_rebind] connection technician device
UPDATE miscomm_sync_devices
SET connection = ?, technician_id = ?, revoked = 0, revoked_at = NULL,
    added_at = (now() AT TIME ZONE 'UTC')::timestamp(0)
WHERE device_id = ?

-- [device_revoke] device
UPDATE miscomm_sync_devices SET revoked = 1, revoked_at = (now() AT TIME ZONE 'UTC')::timestamp(0)
WHERE device_id = ? AND revoked = 0

-- [device_list]
SELECT d.device_id, d.connection, d.technician_id, t.login, d.revoked, d.added_at,
       d.revoked_at, d.last_pull_at, d.last_push_at
FROM miscomm_sync_devices d LEFT JOIN technicians t ON t.id = d.technician_id
ORDER BY d.device_id

-- [devices_bump]
UPDATE miscomm_sync_meta SET value = value + 1 WHERE name = 'devices'

-- [technician] technician
SELECT id FROM technicians WHERE id = ?
