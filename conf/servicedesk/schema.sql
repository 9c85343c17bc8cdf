-- miscomm demo service-desk database: the schema.
--
-- One file for both engines: it loads unchanged into SQLite (3.40, through
-- the sqlite3 shell or the SQLite ODBC driver) and into PostgreSQL 15 (psql).
-- It keeps to what both understand: INTEGER PRIMARY KEY, TEXT, INTEGER,
-- NUMERIC(12,2), DATE and TIMESTAMP, REFERENCES, UNIQUE, CHECK, DEFAULT
-- CURRENT_TIMESTAMP, CREATE INDEX, and "--" comments. No triggers, no
-- sequences, no BOOLEAN (flags are INTEGER 0/1), no engine-specific types.
--
-- Conventions every writer (the gateway's sync code included) follows:
--   * Timestamps are UTC, written 'YYYY-MM-DD HH:MM:SS' (no 'T', no zone).
--     In SQLite they are stored as that text, so they compare and sort as
--     text; PostgreSQL stores TIMESTAMP WITHOUT TIME ZONE and the demo
--     database runs with timezone = UTC (scripts/pg-demo.sh).
--   * Dates are 'YYYY-MM-DD'.
--   * Rows a phone may change (interventions, intervention_photos, assets,
--     catalogue_articles) carry version and updated_at. Nothing here bumps
--     them automatically (a trigger cannot be written once for both
--     engines): whoever changes such a row sets
--       version = version + 1, updated_at = <now, UTC>
--     in the same UPDATE, and guards it with WHERE id = ? AND version = ?
--     (optimistic concurrency: 0 rows updated means someone else won).
--   * New ids: SQLite assigns INTEGER PRIMARY KEY itself; for PostgreSQL,
--     scripts/pg-demo.sh turns every id column into an identity column
--     after loading, so an INSERT without id works on both.
--
-- The tables follow the objects of the PSD Mobile rights table (security
-- guide, section 4.2). What the mobile account (role mobilesvc) may do with
-- each is said at each table and granted by scripts/pg-demo.sh:
--   read only            technicians, the locations, requesters, tickets
--   read, update         interventions
--   read, insert, update intervention_photos, assets, catalogue_articles
--   nothing at all       suppliers and the financial tables

BEGIN;

-- ---------------------------------------------------------------------------
-- People
-- ---------------------------------------------------------------------------

-- Field technicians ("Intervenant"): the people who carry the mobile app.
-- login is what the phone identifies itself with. Mobile: read only.
CREATE TABLE technicians (
    id          INTEGER PRIMARY KEY,
    login       TEXT NOT NULL UNIQUE,
    first_name  TEXT NOT NULL,
    last_name   TEXT NOT NULL,
    email       TEXT NOT NULL,
    phone       TEXT,
    team        TEXT NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- ---------------------------------------------------------------------------
-- Locations ("Localisation"): site > building > floor > room. Mobile: read only.
-- ---------------------------------------------------------------------------

-- A site: one address (a hospital, a clinic, the head office).
CREATE TABLE sites (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    address     TEXT NOT NULL,
    postcode    TEXT NOT NULL,
    city        TEXT NOT NULL,
    phone       TEXT
);

-- A building on a site.
CREATE TABLE buildings (
    id          INTEGER PRIMARY KEY,
    site_id     INTEGER NOT NULL REFERENCES sites (id),
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    UNIQUE (site_id, code)
);

-- A floor of a building; level 0 is the ground floor, negative is below it.
CREATE TABLE floors (
    id          INTEGER PRIMARY KEY,
    building_id INTEGER NOT NULL REFERENCES buildings (id),
    level       INTEGER NOT NULL,
    name        TEXT NOT NULL,
    UNIQUE (building_id, level)
);

-- A room on a floor: an office, a ward, a technical room...
CREATE TABLE rooms (
    id          INTEGER PRIMARY KEY,
    floor_id    INTEGER NOT NULL REFERENCES floors (id),
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('office', 'ward', 'consultation', 'meeting',
                                              'reception', 'technical', 'storage', 'lab')),
    UNIQUE (floor_id, code)
);

-- Users of the organisation who ask for help ("Utilisateur"). Mobile: read only.
CREATE TABLE requesters (
    id          INTEGER PRIMARY KEY,
    first_name  TEXT NOT NULL,
    last_name   TEXT NOT NULL,
    email       TEXT NOT NULL UNIQUE,
    phone       TEXT,
    department  TEXT NOT NULL,
    site_id     INTEGER NOT NULL REFERENCES sites (id),
    room_id     INTEGER REFERENCES rooms (id)
);

CREATE INDEX requesters_site ON requesters (site_id);

-- ---------------------------------------------------------------------------
-- IT assets and the catalogue
-- ---------------------------------------------------------------------------

-- IT assets ("Parc informatique": PC, portable, imprimante, écran, serveur,
-- commutateur, onduleur, tablette...). asset_tag is the inventory label stuck
-- on the device; serial_number is the maker's. A phone scans, moves and
-- declares devices. Mobile: read, insert, update (no delete).
CREATE TABLE assets (
    id            INTEGER PRIMARY KEY,
    asset_tag     TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL CHECK (kind IN ('desktop', 'laptop', 'screen', 'printer',
                                                'scanner', 'server', 'switch', 'ups',
                                                'tablet', 'phone', 'docking_station')),
    manufacturer  TEXT NOT NULL,
    model         TEXT NOT NULL,
    serial_number TEXT NOT NULL,
    hostname      TEXT,
    ip_address    TEXT,
    site_id       INTEGER NOT NULL REFERENCES sites (id),
    room_id       INTEGER REFERENCES rooms (id),
    assigned_to   INTEGER REFERENCES requesters (id),
    status        TEXT NOT NULL DEFAULT 'in_service'
                  CHECK (status IN ('in_stock', 'in_service', 'in_repair', 'retired')),
    installed_on  DATE,
    warranty_end  DATE,
    notes         TEXT,
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at    TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX assets_serial ON assets (serial_number);
CREATE INDEX assets_location ON assets (site_id, room_id);
CREATE INDEX assets_updated ON assets (updated_at, id);

-- Catalogue articles ("Catalogue > Article"): spare parts and supplies a
-- technician uses or orders (toner, RAM, disks, cables...). No prices here:
-- prices are financial (cost_lines). Mobile: read, insert, update (no delete).
CREATE TABLE catalogue_articles (
    id             INTEGER PRIMARY KEY,
    reference      TEXT NOT NULL UNIQUE,
    label          TEXT NOT NULL,
    category       TEXT NOT NULL,
    manufacturer   TEXT,
    manufacturer_ref TEXT,
    unit           TEXT NOT NULL DEFAULT 'piece' CHECK (unit IN ('piece', 'box', 'metre', 'pack')),
    stock_quantity INTEGER NOT NULL DEFAULT 0 CHECK (stock_quantity >= 0),
    min_stock      INTEGER NOT NULL DEFAULT 0 CHECK (min_stock >= 0),
    active         INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    version        INTEGER NOT NULL DEFAULT 1,
    created_at     TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at     TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX catalogue_articles_category ON catalogue_articles (category);
CREATE INDEX catalogue_articles_updated ON catalogue_articles (updated_at, id);

-- ---------------------------------------------------------------------------
-- Tickets and interventions
-- ---------------------------------------------------------------------------

-- Tickets: incidents ("Incident": something is broken) and requests
-- ("Demande": something is wanted), opened by the service desk for a
-- requester. number is the one people quote (INC-2025-00042, DEM-2025-00017).
-- priority: 1 critical, 2 high, 3 normal, 4 low. Mobile: read only.
CREATE TABLE tickets (
    id           INTEGER PRIMARY KEY,
    number       TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('incident', 'request')),
    title        TEXT NOT NULL,
    description  TEXT NOT NULL,
    priority     INTEGER NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 4),
    status       TEXT NOT NULL DEFAULT 'new'
                 CHECK (status IN ('new', 'assigned', 'in_progress', 'resolved', 'closed',
                                   'cancelled')),
    requester_id INTEGER NOT NULL REFERENCES requesters (id),
    site_id      INTEGER NOT NULL REFERENCES sites (id),
    room_id      INTEGER REFERENCES rooms (id),
    asset_id     INTEGER REFERENCES assets (id),
    opened_at    TIMESTAMP NOT NULL,
    due_at       TIMESTAMP,
    resolved_at  TIMESTAMP,
    closed_at    TIMESTAMP,
    updated_at   TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX tickets_status ON tickets (status);
CREATE INDEX tickets_requester ON tickets (requester_id);
CREATE INDEX tickets_asset ON tickets (asset_id);

-- Interventions ("Intervention"): one technician's visit for a ticket; what
-- the phone pulls, works on and pushes back. Times: planned_* set by the
-- office, actual_* and time_spent_minutes (work time, travel excluded) by the
-- technician; report is the technician's account of the work; the customer
-- signs on the phone: signatory name, the stored signature image's file name
-- (the image itself is a file, not a blob) and when.
-- Mobile: read, update (no insert, no delete).
CREATE TABLE interventions (
    id                 INTEGER PRIMARY KEY,
    ticket_id          INTEGER NOT NULL REFERENCES tickets (id),
    technician_id      INTEGER NOT NULL REFERENCES technicians (id),
    status             TEXT NOT NULL DEFAULT 'planned'
                       CHECK (status IN ('planned', 'travelling', 'in_progress', 'suspended',
                                         'done', 'cancelled')),
    planned_start      TIMESTAMP NOT NULL,
    planned_end        TIMESTAMP NOT NULL,
    actual_start       TIMESTAMP,
    actual_end         TIMESTAMP,
    time_spent_minutes INTEGER CHECK (time_spent_minutes >= 0),
    travel_minutes     INTEGER CHECK (travel_minutes >= 0),
    report             TEXT,
    signatory_name     TEXT,
    signature_file     TEXT,
    signed_at          TIMESTAMP,
    version            INTEGER NOT NULL DEFAULT 1,
    created_at         TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at         TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CHECK (planned_end >= planned_start),
    CHECK (actual_end IS NULL OR actual_start IS NOT NULL),
    CHECK (actual_end IS NULL OR actual_end >= actual_start)
);

-- "My interventions" and "my interventions changed since T" (the phone's
-- sync), and the office's "everything changed since T".
CREATE INDEX interventions_technician ON interventions (technician_id, status, planned_start);
CREATE INDEX interventions_technician_updated ON interventions (technician_id, updated_at, id);
CREATE INDEX interventions_updated ON interventions (updated_at, id);
CREATE INDEX interventions_ticket ON interventions (ticket_id);

-- Photos taken during an intervention ("Document"). Only metadata here: the
-- image is a file in the gateway's staging area, under file_name; sha256 is
-- of that file. Mobile: read, insert, update (no delete).
CREATE TABLE intervention_photos (
    id              INTEGER PRIMARY KEY,
    intervention_id INTEGER NOT NULL REFERENCES interventions (id),
    technician_id   INTEGER NOT NULL REFERENCES technicians (id),
    file_name       TEXT NOT NULL UNIQUE,
    original_name   TEXT,
    content_type    TEXT NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png',
                                                           'image/heic', 'image/webp')),
    size_bytes      INTEGER NOT NULL CHECK (size_bytes > 0),
    sha256          TEXT NOT NULL,
    width           INTEGER,
    height          INTEGER,
    caption         TEXT,
    taken_at        TIMESTAMP,
    version         INTEGER NOT NULL DEFAULT 1,
    created_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX intervention_photos_intervention ON intervention_photos (intervention_id);
CREATE INDEX intervention_photos_updated ON intervention_photos (updated_at, id);

-- ---------------------------------------------------------------------------
-- Financial objects ("Financier", "Fournisseur"): the mobile account has no
-- right at all on these, not even read.
-- ---------------------------------------------------------------------------

-- Suppliers: makers, resellers, maintenance companies.
CREATE TABLE suppliers (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE,
    siret    TEXT NOT NULL,
    address  TEXT NOT NULL,
    postcode TEXT NOT NULL,
    city     TEXT NOT NULL,
    email    TEXT,
    phone    TEXT
);

-- Cost centres ("Centre de coûts") with their yearly budget.
CREATE TABLE cost_centres (
    id            INTEGER PRIMARY KEY,
    code          TEXT NOT NULL UNIQUE,
    label         TEXT NOT NULL,
    budget_year   INTEGER NOT NULL,
    budget_amount NUMERIC(12,2) NOT NULL
);

-- Contracts with suppliers: maintenance, leasing, licences, support.
CREATE TABLE contracts (
    id             INTEGER PRIMARY KEY,
    number         TEXT NOT NULL UNIQUE,
    supplier_id    INTEGER NOT NULL REFERENCES suppliers (id),
    cost_centre_id INTEGER NOT NULL REFERENCES cost_centres (id),
    kind           TEXT NOT NULL CHECK (kind IN ('maintenance', 'lease', 'licence', 'support')),
    title          TEXT NOT NULL,
    start_date     DATE NOT NULL,
    end_date       DATE NOT NULL,
    annual_amount  NUMERIC(12,2) NOT NULL,
    currency       TEXT NOT NULL DEFAULT 'EUR',
    CHECK (end_date >= start_date)
);

-- Supplier invoices ("Facture"). Amounts in euros, excluding and including VAT.
CREATE TABLE invoices (
    id              INTEGER PRIMARY KEY,
    number          TEXT NOT NULL,
    supplier_id     INTEGER NOT NULL REFERENCES suppliers (id),
    contract_id     INTEGER REFERENCES contracts (id),
    issued_on       DATE NOT NULL,
    due_on          DATE NOT NULL,
    amount_excl_tax NUMERIC(12,2) NOT NULL,
    vat_amount      NUMERIC(12,2) NOT NULL,
    amount_incl_tax NUMERIC(12,2) NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('received', 'approved', 'paid', 'disputed')),
    paid_on         DATE,
    UNIQUE (supplier_id, number)
);

-- Cost lines: what an invoice, an intervention's parts or an asset cost,
-- booked to a cost centre.
CREATE TABLE cost_lines (
    id              INTEGER PRIMARY KEY,
    cost_centre_id  INTEGER NOT NULL REFERENCES cost_centres (id),
    invoice_id      INTEGER REFERENCES invoices (id),
    intervention_id INTEGER REFERENCES interventions (id),
    asset_id        INTEGER REFERENCES assets (id),
    article_id      INTEGER REFERENCES catalogue_articles (id),
    description     TEXT NOT NULL,
    quantity        NUMERIC(12,2) NOT NULL,
    unit_price      NUMERIC(12,2) NOT NULL,
    amount          NUMERIC(12,2) NOT NULL,
    booked_on       DATE NOT NULL
);

CREATE INDEX cost_lines_invoice ON cost_lines (invoice_id);
CREATE INDEX cost_lines_intervention ON cost_lines (intervention_id);

COMMIT;
