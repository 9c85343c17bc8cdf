-- miscomm intervention sync: the demo service-desk schema's mapping, SQLite.
--
-- Blocks start with a line "-- [NAME] PARAM PARAM ...": the statement NAME,
-- whose "?" markers the gateway binds, in order, to the values the PARAMs
-- name (docs/admin.md, "Intervention sync", lists them). Every "init" block
-- is run, in order, by "misctl sync init"; the others by the gateway.
--
-- The change log: triggers on interventions (and tickets, whose title and
-- priority the phone shows) record every change of an intervention, for its
-- technician, and for its former technician when it is reassigned or
-- deleted (a tombstone on that technician's phone). SQLite lets one writer
-- at a time hold the database until it commits, so sequence numbers become
-- visible in their order: the safe horizon is the highest number plus one.

-- [init]
CREATE TABLE IF NOT EXISTS miscomm_sync_changes (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    intervention_id INTEGER NOT NULL,
    technician_id   INTEGER NOT NULL
)

-- [init]
CREATE INDEX IF NOT EXISTS miscomm_sync_changes_tech ON miscomm_sync_changes (technician_id, seq)

-- [init]
CREATE TABLE IF NOT EXISTS miscomm_sync_devices (
    device_id     TEXT PRIMARY KEY,
    connection    TEXT NOT NULL,
    technician_id INTEGER NOT NULL REFERENCES technicians (id),
    revoked       INTEGER NOT NULL DEFAULT 0,
    added_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    revoked_at    TIMESTAMP,
    last_pull_at  TIMESTAMP,
    last_push_at  TIMESTAMP
)

-- [init]
CREATE TABLE IF NOT EXISTS miscomm_sync_ops (
    op_id           TEXT PRIMARY KEY,
    device_id       TEXT NOT NULL,
    intervention_id INTEGER NOT NULL,
    result          INTEGER NOT NULL,
    flags           INTEGER NOT NULL,
    code            INTEGER NOT NULL,
    message         TEXT NOT NULL,
    version         INTEGER NOT NULL,
    applied_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
)

-- [init]
CREATE TABLE IF NOT EXISTS miscomm_sync_meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
)

-- [init]
INSERT OR IGNORE INTO miscomm_sync_meta (name, value) VALUES ('devices', 0)

-- [init]
CREATE TRIGGER IF NOT EXISTS miscomm_sync_ins AFTER INSERT ON interventions
BEGIN
    INSERT INTO miscomm_sync_changes (intervention_id, technician_id) VALUES (NEW.id, NEW.technician_id);
END

-- [init]
CREATE TRIGGER IF NOT EXISTS miscomm_sync_upd AFTER UPDATE ON interventions
BEGIN
    INSERT INTO miscomm_sync_changes (intervention_id, technician_id)
        SELECT OLD.id, OLD.technician_id WHERE OLD.technician_id IS NOT NEW.technician_id;
    INSERT INTO miscomm_sync_changes (intervention_id, technician_id) VALUES (NEW.id, NEW.technician_id);
END

-- [init]
CREATE TRIGGER IF NOT EXISTS miscomm_sync_del AFTER DELETE ON interventions
BEGIN
    INSERT INTO miscomm_sync_changes (intervention_id, technician_id) VALUES (OLD.id, OLD.technician_id);
END

-- [init]
CREATE TRIGGER IF NOT EXISTS miscomm_sync_ticket AFTER UPDATE ON tickets
BEGIN
    INSERT INTO miscomm_sync_changes (intervention_id, technician_id)
        SELECT id, technician_id FROM interventions WHERE ticket_id = NEW.id;
END

-- [init]
-- The interventions that exist already: one change each (none twice when init runs again).
INSERT INTO miscomm_sync_changes (intervention_id, technician_id)
    SELECT i.id, i.technician_id FROM interventions i
    WHERE NOT EXISTS (SELECT 1 FROM miscomm_sync_changes c WHERE c.intervention_id = i.id)
    ORDER BY i.id

-- [horizon]
SELECT COALESCE(MAX(seq), 0) + 1 FROM miscomm_sync_changes

-- [changed] low high
SELECT DISTINCT technician_id FROM miscomm_sync_changes WHERE seq >= ? AND seq < ?

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
      WHERE technician_id = ? AND seq >= ? AND seq < ? GROUP BY intervention_id) c
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
FROM interventions WHERE id = ?

-- [apply] fields intervention version
UPDATE interventions
SET status = ?, actual_start = ?, actual_end = ?, time_spent_minutes = ?, report = ?,
    signatory_name = ?, signature_file = ?, signed_at = ?,
    version = version + 1, updated_at = strftime('%Y-%m-%d %H:%M:%S', 'now')
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
UPDATE miscomm_sync_devices SET last_pull_at = strftime('%Y-%m-%d %H:%M:%S', 'now')
WHERE device_id = ? AND (last_pull_at IS NULL OR last_pull_at < strftime('%Y-%m-%d %H:%M:%S', 'now', '-60 seconds'))

-- [device_pushed] device
-- To the minute: a write (and its commit) at most once a minute per device.
UPDATE miscomm_sync_devices SET last_push_at = strftime('%Y-%m-%d %H:%M:%S', 'now')
WHERE device_id = ? AND (last_push_at IS NULL OR last_push_at < strftime('%Y-%m-%d %H:%M:%S', 'now', '-60 seconds'))

-- [device_add] device connection technician
INSERT INTO miscomm_sync_devices (device_id, connection, technician_id) VALUES (?, ?, ?)

-- [device_rebind] connection technician device
UPDATE miscomm_sync_devices
SET connection = ?, technician_id = ?, revoked = 0, revoked_at = NULL, added_at = strftime('%Y-%m-%d %H:%M:%S', 'now')
WHERE device_id = ?

-- [device_revoke] device
UPDATE miscomm_sync_devices SET revoked = 1, revoked_at = strftime('%Y-%m-%d %H:%M:%S', 'now')
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
