#!/usr/bin/env python3
"""Generate the demo service-desk data, conf/servicedesk/data.sql.

The output is deterministic (a fixed seed, a fixed "now", no clock, no
locale), so running this again gives the same file byte for byte; the file
is committed next to the schema (conf/servicedesk/schema.sql) and loads
unchanged into SQLite and PostgreSQL.

    scripts/demo-data.py              write conf/servicedesk/data.sql
    scripts/demo-data.py -o -         write to standard output
    scripts/demo-data.py --check      exit 1 if the committed file is stale

What it makes: a dozen technicians, four sites with their buildings, floors
and rooms, about ninety requesters, ~150 IT assets, ~60 catalogue articles,
~300 tickets (incidents and requests) with a few hundred interventions whose
status, planned and actual times follow from a fixed "now"
(2025-06-16 08:30 UTC, a Monday morning in Paris), a few photo records, and
suppliers, cost centres, contracts, invoices and cost lines that the mobile
account must never see. Times are UTC; working hours are Paris working
hours. Phone numbers are in the ranges ARCEP keeps for fiction; e-mail
domains are under .example.

Python standard library only.
"""
import argparse
import datetime as dt
import hashlib
import os
import random
import sys
import unicodedata
from decimal import ROUND_HALF_UP, Decimal

SEED = 20250616
NOW = dt.datetime(2025, 6, 16, 8, 30, 0)          # UTC
FIRST_DAY = dt.date(2025, 1, 6)                    # first ticket opened
DOMAIN = "garance-sante.example"

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DEFAULT = os.path.join(os.path.dirname(HERE), "conf", "servicedesk", "data.sql")

rng = random.Random(SEED)


# -- helpers ----------------------------------------------------------------

def ascii_lower(s):
    s = unicodedata.normalize("NFKD", s)
    return "".join(c for c in s if not unicodedata.combining(c)).lower().replace(" ", "") \
        .replace("'", "")


def paris_offset(t):
    """Hours Paris is ahead of UTC at naive UTC time t (2024-2026 rules)."""
    for year, start, end in ((2024, (3, 31), (10, 27)), (2025, (3, 30), (10, 26)),
                             (2026, (3, 29), (10, 25))):
        if t.year == year:
            s = dt.datetime(year, start[0], start[1], 1)
            e = dt.datetime(year, end[0], end[1], 1)
            return 2 if s <= t < e else 1
    return 1


def to_utc(local):
    return local - dt.timedelta(hours=paris_offset(local - dt.timedelta(hours=1)))


def to_local(utc):
    return utc + dt.timedelta(hours=paris_offset(utc))


def ts(t):
    return None if t is None else t.strftime("%Y-%m-%d %H:%M:%S")


def day(d):
    return None if d is None else d.strftime("%Y-%m-%d")


def money(x):
    return Decimal(x).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def next_working_slot(utc, min_gap_minutes=0):
    """The first quarter hour at or after utc + gap inside Paris working hours
    (Monday to Friday, 08:00-12:00 and 13:30-17:30)."""
    local = to_local(utc + dt.timedelta(minutes=min_gap_minutes))
    local = local.replace(second=0, microsecond=0)
    if local.minute % 15:
        local += dt.timedelta(minutes=15 - local.minute % 15)
    while True:
        if local.weekday() >= 5:
            local = (local + dt.timedelta(days=7 - local.weekday())).replace(hour=8, minute=0)
            continue
        hm = local.hour * 60 + local.minute
        if hm < 8 * 60:
            local = local.replace(hour=8, minute=0)
        elif 12 * 60 <= hm < 13 * 60 + 30:
            local = local.replace(hour=13, minute=30)
        elif hm >= 17 * 60:
            local = (local + dt.timedelta(days=1)).replace(hour=8, minute=0)
            continue
        return to_utc(local)


SCHEDULE = {}   # technician id -> [(start, end)] booked, UTC


def book(tech, earliest, minutes):
    """The first slot of the technician's calendar at or after earliest where
    minutes fit inside one half-day of work without overlapping a booking."""
    busy = SCHEDULE.setdefault(tech, [])
    t = next_working_slot(earliest)
    while True:
        end = t + dt.timedelta(minutes=minutes)
        lt, le = to_local(t), to_local(end)
        block_end = lt.replace(hour=12, minute=0) if lt.hour < 12 else lt.replace(hour=17, minute=30)
        if le > block_end and minutes <= 240:
            t = next_working_slot(to_utc(block_end), 1)
            continue
        clash = [e for s_, e in busy if s_ < end and t < e]
        if clash:
            t = next_working_slot(max(clash))
            continue
        busy.append((t, end))
        return t


def fiction_mobile(n):
    # 06 39 98 00 00 to 06 39 98 99 99 are reserved for fiction.
    return "06 39 98 %02d %02d" % (n // 100 % 100, n % 100)


def fiction_landline(n):
    # 04 65 71 00 00 to 04 65 71 99 99: fiction numbers of the south-east.
    return "04 65 71 %02d %02d" % (n // 100 % 100, n % 100)


def luhn_ok_digits(prefix_len):
    """A string of prefix_len random digits plus a Luhn check digit."""
    digits = [rng.randint(0, 9) for _ in range(prefix_len)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def fake_sha256(label):
    return hashlib.sha256(("%d:%s" % (SEED, label)).encode()).hexdigest()


# -- SQL output ---------------------------------------------------------------

out = []


def lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, Decimal)):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def insert(table, columns, rows, chunk=100):
    out.append("")
    out.append("-- %s: %d rows" % (table, len(rows)))
    for i in range(0, len(rows), chunk):
        out.append("INSERT INTO %s (%s) VALUES" % (table, ", ".join(columns)))
        part = rows[i:i + chunk]
        for j, r in enumerate(part):
            assert len(r) == len(columns), (table, r)
            out.append("  (" + ", ".join(lit(v) for v in r) + (");" if j == len(part) - 1 else "),"))


# -- people ---------------------------------------------------------------------

TECHNICIANS = [
    ("Julien", "Martin", "Support de proximité"),
    ("Sophie", "Bernard", "Support de proximité"),
    ("Thomas", "Dubois", "Support de proximité"),
    ("Camille", "Lefèvre", "Support de proximité"),
    ("Nicolas", "Robert", "Postes de travail"),
    ("Élodie", "Richard", "Postes de travail"),
    ("Mathieu", "Petit", "Postes de travail"),
    ("Aurélie", "Durand", "Impression et numérisation"),
    ("Antoine", "Leroy", "Impression et numérisation"),
    ("Céline", "Moreau", "Réseaux et télécoms"),
    ("Sébastien", "Simon", "Réseaux et télécoms"),
    ("Laure", "Fontaine", "Postes de travail"),
]

FIRST_NAMES = ["Marie", "Jean", "Nathalie", "Pierre", "Isabelle", "Michel", "Sylvie", "Philippe",
               "Catherine", "Alain", "Christine", "Patrick", "Valérie", "Éric", "Sandrine",
               "Stéphane", "Véronique", "Frédéric", "Hélène", "Laurent", "Claire", "Olivier",
               "Anne", "Christophe", "Émilie", "David", "Julie", "Vincent", "Chloé", "François",
               "Manon", "Guillaume", "Léa", "Maxime", "Inès", "Hugo", "Lucie", "Romain",
               "Océane", "Benoît", "Agnès", "Rémi", "Mélanie", "Yannick", "Pauline", "Jérôme"]
LAST_NAMES = ["Garnier", "Faure", "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Roussel",
              "Nicolas", "Perrin", "Morin", "Mathieu", "Clément", "Gauthier", "Dumont", "Lopez",
              "Chevalier", "Girard", "André", "Mercier", "Bonnet", "François", "Lambert",
              "Boyer", "Vidal", "Bertrand", "Roux", "Fournier", "Morel", "Giraud", "Mallet",
              "Brun", "Arnaud", "Barbier", "Rolland", "Picard", "Renaud", "Aubert", "Colin",
              "Vasseur", "Gaillard", "Lemoine", "Noël", "Meunier", "Dupuis", "Chauvin"]

# -- locations --------------------------------------------------------------------

SITES = [
    # code, name, address, postcode, city, buildings [(code, name, levels)]
    ("CHG", "Centre hospitalier de la Garance", "12 avenue des Tilleuls", "26000", "Valence",
     [("A", "Bâtiment A - Médecine", range(-1, 4)), ("B", "Bâtiment B - Chirurgie", range(0, 5)),
      ("C", "Bâtiment C - Logistique", range(0, 2))]),
    ("CLT", "Clinique des Tilleuls", "4 rue Jean-Moulin", "07500", "Guilherand-Granges",
     [("P", "Bâtiment principal", range(0, 3))]),
    ("SIE", "Siège administratif", "35 boulevard du Général-de-Gaulle", "26000", "Valence",
     [("S", "Immeuble Le Belvédère", range(0, 3))]),
    ("EHP", "EHPAD Les Glycines", "8 chemin des Vignes", "26500", "Bourg-lès-Valence",
     [("R", "Résidence", range(0, 2))]),
]

ROOM_NAMES = {
    "office": ["Bureau cadre de santé", "Secrétariat médical", "Bureau médecin", "Bureau administratif",
               "Bureau des entrées", "Bureau assistante sociale"],
    "ward": ["Poste de soins", "Salle de soins", "Office infirmier", "Salle de surveillance"],
    "consultation": ["Box de consultation", "Salle d'examen", "Consultation externe"],
    "meeting": ["Salle de réunion", "Salle de staff", "Salle de formation"],
    "reception": ["Accueil", "Hall d'accueil", "Admissions"],
    "technical": ["Local technique", "Baie de brassage", "Local onduleurs"],
    "storage": ["Réserve", "Magasin informatique", "Stock matériel"],
    "lab": ["Laboratoire", "Salle de prélèvements"],
}

DEPARTMENTS = {
    "CHG": ["Urgences", "Cardiologie", "Pneumologie", "Pédiatrie", "Bloc opératoire", "Radiologie",
            "Pharmacie", "Laboratoire", "Admissions", "Direction des soins", "DSI"],
    "CLT": ["Chirurgie ambulatoire", "Consultations", "Accueil", "Pharmacie"],
    "SIE": ["Ressources humaines", "Direction générale", "Services économiques", "Finances", "DSI"],
    "EHP": ["Soins", "Accueil", "Animation"],
}


def build_locations():
    sites, buildings, floors, rooms = [], [], [], []
    site_rooms = {}          # site id -> [room rows]
    for s_i, (code, name, addr, pc, city, blds) in enumerate(SITES, 1):
        sites.append((s_i, code, name, addr, pc, city, fiction_landline(1000 + s_i * 100)))
        site_rooms[s_i] = []
        for b_code, b_name, levels in blds:
            b_id = len(buildings) + 1
            buildings.append((b_id, s_i, b_code, b_name))
            for level in levels:
                f_id = len(floors) + 1
                fname = {-1: "Sous-sol", 0: "Rez-de-chaussée", 1: "1er étage"}.get(
                    level, "%de étage" % level)
                floors.append((f_id, b_id, level, fname))
                kinds = ["office", "office", "ward", "consultation", "meeting", "storage"]
                if level == 0:
                    kinds += ["reception"]
                if level <= 0 or (b_code in ("C", "S", "P", "R") and level == 0):
                    kinds += ["technical"]
                if code == "SIE":
                    kinds = [k for k in kinds if k not in ("ward", "consultation")] + ["office"]
                if code == "CHG" and b_code == "A" and level == 1:
                    kinds += ["lab"]
                n = rng.randint(4, 7)
                chosen = kinds[:]
                rng.shuffle(chosen)
                chosen = sorted(chosen[:n], key=lambda k: list(ROOM_NAMES).index(k))
                if level <= 0 and "technical" not in chosen:
                    chosen.append("technical")
                for r_n, kind in enumerate(chosen, 1):
                    r_id = len(rooms) + 1
                    lvl = "S%d" % -level if level < 0 else str(level)
                    rcode = "%s%s-%02d" % (b_code, lvl, r_n)
                    rname = rng.choice(ROOM_NAMES[kind])
                    if kind in ("consultation", "meeting"):
                        rname += " %d" % r_n
                    row = (r_id, f_id, rcode, rname, kind)
                    rooms.append(row)
                    site_rooms[s_i].append(row)
    return sites, buildings, floors, rooms, site_rooms


# -- assets and catalogue ---------------------------------------------------------

def serial_dell():
    return "".join(rng.choice("0123456789BCDFGHJKLMNPQRSTVWXYZ") for _ in range(7))


def serial_hp(prefix):
    return prefix + "".join(rng.choice("0123456789") for _ in range(3)) + \
        "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(4))


def serial_lenovo():
    return rng.choice(["PF", "MJ", "PC"]) + "".join(
        rng.choice("0123456789ABCDEFGHJKLMNPQRSTVWXYZ") for _ in range(6))


def serial_generic(prefix, n):
    return prefix + "".join(rng.choice("0123456789") for _ in range(n))


MODELS = {
    "desktop": [("Dell", "OptiPlex 7010 SFF", serial_dell),
                ("HP", "EliteDesk 800 G6 SFF", lambda: serial_hp("CZC")),
                ("Lenovo", "ThinkCentre M70q Gen 3", serial_lenovo)],
    "laptop": [("Dell", "Latitude 5430", serial_dell),
               ("HP", "EliteBook 840 G8", lambda: serial_hp("5CG")),
               ("Lenovo", "ThinkPad T14 Gen 2", serial_lenovo)],
    "screen": [("Dell", "P2422H", lambda: "CN-0" + serial_generic("", 5) + "-" + serial_dell()),
               ("iiyama", "ProLite XUB2493HS-B5", lambda: serial_generic("1181", 8)),
               ("HP", "E24 G5", lambda: serial_hp("CN4")),
               ("Philips", "243V7QDAB", lambda: serial_generic("UK0", 9))],
    "printer": [("HP", "LaserJet Pro M404dn", lambda: serial_hp("PHB")),
                ("Brother", "HL-L5100DN", lambda: "E7" + serial_generic("", 6) + "N" +
                 serial_generic("", 6)),
                ("Kyocera", "ECOSYS M2540dn", lambda: serial_generic("VCF", 7)),
                ("Zebra", "ZD421 (bracelets patients)", lambda: serial_generic("D4J", 9))],
    "scanner": [("Fujitsu", "fi-7160", lambda: serial_generic("A2DB", 6)),
                ("Canon", "DR-C225 II", lambda: serial_generic("GK", 6))],
    "server": [("Dell", "PowerEdge R650", serial_dell),
               ("HPE", "ProLiant DL380 Gen10", lambda: serial_hp("CZJ"))],
    "switch": [("Cisco", "Catalyst 2960-X 48 ports", lambda: "FOC" + serial_generic("", 4) + "X" +
                "".join(rng.choice("0123456789ABCDEF") for _ in range(3))),
               ("HPE Aruba", "2930F 24G", lambda: serial_generic("SG9", 7))],
    "ups": [("APC", "Smart-UPS 1500", lambda: serial_generic("AS", 10)),
            ("Eaton", "5SC 1000i", lambda: serial_generic("G1", 9))],
    "tablet": [("Samsung", "Galaxy Tab Active3", lambda: "R52" + serial_generic("", 8)),
               ("Apple", "iPad (9e génération)", lambda: "DMP" + serial_generic("", 9))],
    "phone": [("Cisco", "IP Phone 8841", lambda: "FCH" + serial_generic("", 8))],
    "docking_station": [("Dell", "WD19S", lambda: "CN-0" + serial_generic("", 6)),
                        ("HP", "USB-C Dock G5", lambda: serial_hp("5CG"))],
}

ASSET_COUNTS = [("desktop", 48), ("laptop", 18), ("screen", 36), ("printer", 16), ("scanner", 5),
                ("server", 4), ("switch", 8), ("ups", 5), ("tablet", 5), ("phone", 3),
                ("docking_station", 4)]

HOST_PREFIX = {"desktop": "PC", "laptop": "PT", "server": "SRV", "printer": "IMP",
               "switch": "SW", "ups": "OND", "tablet": "TAB"}


def build_assets(sites, site_rooms, requesters):
    assets = []
    counters = {}
    site_weights = [(1, 60), (2, 15), (3, 17), (4, 8)]
    for kind, count in ASSET_COUNTS:
        for _ in range(count):
            a_id = len(assets) + 1
            if kind == "server":
                site_id = 1
            else:
                site_id = rng.choices([s for s, _ in site_weights], [w for _, w in site_weights])[0]
            site_code = sites[site_id - 1][1]
            maker, model, serial_fn = rng.choice(MODELS[kind])
            status = rng.choices(["in_service", "in_stock", "in_repair", "retired"],
                                 [86, 7, 3, 4])[0]
            if kind in ("server", "switch", "ups"):
                candidates = [r for r in site_rooms[site_id] if r[4] == "technical"]
                status = "in_service"
            elif status == "in_stock":
                candidates = [r for r in site_rooms[site_id] if r[4] == "storage"]
            else:
                candidates = [r for r in site_rooms[site_id] if r[4] not in ("technical", "storage")]
            room_id = rng.choice(candidates)[0] if candidates else None
            if status == "retired" and rng.random() < 0.5:
                room_id = None
            assigned = None
            if kind in ("laptop", "tablet", "desktop") and status == "in_service" and \
                    rng.random() < (0.8 if kind == "laptop" else 0.35):
                local = [r for r in requesters if r[6] == site_id]
                assigned = rng.choice(local)[0] if local else None
            hostname = ip = None
            counters[(site_code, kind)] = counters.get((site_code, kind), 0) + 1
            n = counters[(site_code, kind)]
            if kind in HOST_PREFIX:
                hostname = "%s-%s-%04d" % (site_code, HOST_PREFIX[kind], n) if kind in (
                    "desktop", "laptop", "tablet") else "%s-%s-%02d" % (site_code, HOST_PREFIX[kind], n)
            vlan = {"server": 10, "switch": 1, "ups": 1, "printer": 40}.get(kind)
            if vlan is not None:
                ip = "10.%d.%d.%d" % (site_id, vlan, 10 + n)
            install = FIRST_DAY - dt.timedelta(days=rng.randint(30, 6 * 365))
            if status == "in_stock" and rng.random() < 0.5:
                install = None
            warranty = None
            if install is not None:
                years = 5 if kind in ("server", "switch") else rng.choice([3, 3, 5])
                warranty = install.replace(year=install.year + years) if not (
                    install.month == 2 and install.day == 29) else install + dt.timedelta(days=365 * years)
            notes = None
            if status == "in_repair":
                notes = "Envoyé en atelier (RMA constructeur)."
            elif status == "retired":
                notes = "Réformé : obsolète, disque effacé."
            elif kind == "printer" and rng.random() < 0.3:
                notes = "Bac 2 A5 pour ordonnances."
            created = dt.datetime.combine(install or FIRST_DAY, dt.time(9, 0)) + \
                dt.timedelta(minutes=rng.randint(0, 480))
            version = rng.choices([1, 2, 3, 4], [70, 18, 8, 4])[0]
            updated = created if version == 1 else min(
                NOW, max(created, dt.datetime(2024, 9, 1)) + dt.timedelta(
                    minutes=rng.randint(60, 400 * 24 * 60)))
            assets.append([a_id, "INV-%06d" % (1000 + a_id), kind, maker, model, serial_fn(),
                           hostname, ip, site_id, room_id, assigned, status, day(install),
                           day(warranty), notes, version, ts(created), ts(updated)])
    return assets


CATALOGUE = [
    # category, label, manufacturer, manufacturer_ref, unit
    ("Toner et encre", "Toner noir HP 59A", "HP", "CF259A", "piece"),
    ("Toner et encre", "Toner noir HP 59X haute capacité", "HP", "CF259X", "piece"),
    ("Toner et encre", "Toner noir Brother TN-3430", "Brother", "TN-3430", "piece"),
    ("Toner et encre", "Toner noir Brother TN-3480", "Brother", "TN-3480", "piece"),
    ("Toner et encre", "Tambour Brother DR-3400", "Brother", "DR-3400", "piece"),
    ("Toner et encre", "Toner Kyocera TK-1170", "Kyocera", "TK-1170", "piece"),
    ("Toner et encre", "Ruban transfert thermique Zebra 110 mm", "Zebra", "05095GS11007", "box"),
    ("Consommables", "Étiquettes bracelets patients adulte", "Zebra", "10012713-1", "box"),
    ("Consommables", "Étiquettes bracelets patients enfant", "Zebra", "10012712-1", "box"),
    ("Consommables", "Rouleau d'entraînement scanner Fujitsu", "Fujitsu", "PA03670-0001", "piece"),
    ("Consommables", "Tampon de séparation scanner Fujitsu", "Fujitsu", "PA03670-0002", "piece"),
    ("Consommables", "Lingettes de nettoyage écrans (boîte de 100)", None, None, "box"),
    ("Pièces détachées", "Kit de maintenance HP LaserJet M404", "HP", "RM2-5399", "piece"),
    ("Pièces détachées", "Unité de fusion Brother HL-L5100", "Brother", "LY6753001", "piece"),
    ("Pièces détachées", "Kit rouleaux bac 2 Kyocera", "Kyocera", "302NR94030", "piece"),
    ("Pièces détachées", "Tête d'impression Zebra ZD421 203 dpi", "Zebra", "P1112640-218", "piece"),
    ("Pièces détachées", "Batterie Latitude 5430 4 cellules", "Dell", "WY9DX", "piece"),
    ("Pièces détachées", "Batterie EliteBook 840 G8", "HP", "M07392-005", "piece"),
    ("Pièces détachées", "Clavier AZERTY ThinkPad T14", "Lenovo", "5N20W67715", "piece"),
    ("Pièces détachées", "Batterie de remplacement APC RBC7", "APC", "APCRBC7", "piece"),
    ("Pièces détachées", "Ventilateur processeur OptiPlex SFF", "Dell", "0K8JM3", "piece"),
    ("Mémoire", "Barrette DDR4 8 Go 3200 MHz SO-DIMM", "Kingston", "KVR32S22S8/8", "piece"),
    ("Mémoire", "Barrette DDR4 16 Go 3200 MHz SO-DIMM", "Kingston", "KVR32S22D8/16", "piece"),
    ("Mémoire", "Barrette DDR4 8 Go 3200 MHz DIMM", "Kingston", "KVR32N22S8/8", "piece"),
    ("Mémoire", "Barrette DDR5 16 Go 4800 MHz DIMM", "Crucial", "CT16G48C40U5", "piece"),
    ("Stockage", "SSD NVMe M.2 512 Go", "Samsung", "MZ-V8V500BW", "piece"),
    ("Stockage", "SSD NVMe M.2 1 To", "Samsung", "MZ-V8V1T0BW", "piece"),
    ("Stockage", "SSD SATA 2,5\" 480 Go", "Crucial", "CT480BX500SSD1", "piece"),
    ("Stockage", "Disque serveur SAS 1,2 To 10k", "Dell", "400-ATJL", "piece"),
    ("Stockage", "Clé USB chiffrée 32 Go", "Kingston", "IKKP50/32GB", "piece"),
    ("Périphériques", "Clavier USB AZERTY filaire", "Dell", "KB216", "piece"),
    ("Périphériques", "Souris optique USB", "Dell", "MS116", "piece"),
    ("Périphériques", "Ensemble clavier souris sans fil", "Logitech", "MK270", "piece"),
    ("Périphériques", "Clavier désinfectable IP68", "Cherry", "AK-C8112", "piece"),
    ("Périphériques", "Souris désinfectable IP68", "Cherry", "AK-PMH12", "piece"),
    ("Périphériques", "Lecteur de carte CPS", "Gemalto", "IDBridge CT30", "piece"),
    ("Périphériques", "Lecteur code-barres USB", "Zebra", "DS2208", "piece"),
    ("Périphériques", "Casque micro USB", "Jabra", "Evolve2 30", "piece"),
    ("Périphériques", "Webcam Full HD", "Logitech", "C920", "piece"),
    ("Périphériques", "Station d'accueil USB-C", "Dell", "WD19S", "piece"),
    ("Alimentation", "Chargeur USB-C 65 W", "Dell", "DA65NM190", "piece"),
    ("Alimentation", "Chargeur HP 65 W Smart", "HP", "710412-001", "piece"),
    ("Alimentation", "Cordon d'alimentation C13 1,8 m", None, None, "piece"),
    ("Alimentation", "Multiprise 6 prises parafoudre", "Legrand", "694552", "piece"),
    ("Câblage", "Cordon RJ45 Cat.6 U/UTP 1 m", None, None, "piece"),
    ("Câblage", "Cordon RJ45 Cat.6 U/UTP 2 m", None, None, "piece"),
    ("Câblage", "Cordon RJ45 Cat.6 U/UTP 3 m", None, None, "piece"),
    ("Câblage", "Cordon RJ45 Cat.6 U/UTP 5 m", None, None, "piece"),
    ("Câblage", "Câble HDMI 2 m", None, None, "piece"),
    ("Câblage", "Câble DisplayPort 2 m", None, None, "piece"),
    ("Câblage", "Câble USB-C vers DisplayPort 1,8 m", None, None, "piece"),
    ("Câblage", "Câble USB A-B imprimante 3 m", None, None, "piece"),
    ("Câblage", "Jarretière fibre LC-LC OM4 2 m", None, None, "piece"),
    ("Câblage", "Module SFP 1000BASE-SX", "Cisco", "GLC-SX-MMD", "piece"),
    ("Câblage", "Câble réseau Cat.6A en touret", None, None, "metre"),
    ("Câblage", "Serre-câbles velcro (lot de 50)", None, None, "pack"),
    ("Écrans", "Écran 24\" Full HD", "Dell", "P2422H", "piece"),
    ("Écrans", "Bras écran double", "Ergotron", "45-245-026", "piece"),
    ("Écrans", "Filtre de confidentialité 24\"", "3M", "PF240W9B", "piece"),
    ("Postes", "PC compact de remplacement (master DSI)", "Lenovo", "ThinkCentre M70q", "piece"),
    ("Postes", "Portable de prêt (master DSI)", "Dell", "Latitude 5430", "piece"),
]


def build_catalogue():
    rows = []
    for i, (cat, label, maker, ref, unit) in enumerate(CATALOGUE, 1):
        stock = rng.randint(0, 40) if unit != "metre" else rng.choice([150, 300, 305])
        min_stock = 0 if unit == "metre" else rng.choice([0, 2, 3, 5, 10])
        active = 0 if rng.random() < 0.05 else 1
        created = dt.datetime(2023, 1, 2, 8) + dt.timedelta(minutes=rng.randint(0, 600 * 24 * 60))
        version = rng.choices([1, 2, 3, 5], [50, 30, 15, 5])[0]
        updated = created if version == 1 else min(
            NOW, max(created, dt.datetime(2025, 1, 6)) + dt.timedelta(minutes=rng.randint(60, 150 * 24 * 60)))
        rows.append([i, "ART-%05d" % (100 + i), label, cat, maker, ref, unit, stock, min_stock,
                     active, version, ts(created), ts(updated)])
    return rows


# -- tickets and interventions ---------------------------------------------------

# kind -> [(title, description, duration minutes, resolution reports, part label or None)]
INCIDENTS = {
    "printer": [
        ("Bourrages papier répétés", "L'imprimante fait des bourrages à chaque impression recto-verso.",
         45, ["Rouleaux d'entraînement nettoyés, kit de maintenance remplacé. 20 pages de test sans bourrage.",
              "Morceau d'étiquette coincé dans l'unité recto-verso retiré. Tests OK."],
         "Kit de maintenance HP LaserJet M404"),
        ("Impression pâle, traces sur les pages", "Les ordonnances sortent avec des traînées grises.",
         30, ["Toner remplacé, tambour nettoyé. Qualité d'impression conforme.",
              "Tambour en fin de vie remplacé. Page de test correcte."], "Tambour Brother DR-3400"),
        ("Imprimante hors ligne", "L'imprimante n'apparaît plus sur les postes du service.",
         30, ["Adresse IP perdue après coupure électrique : réservation DHCP corrigée, file d'attente relancée.",
              "Câble réseau arraché remplacé, imprimante de nouveau joignable."], "Cordon RJ45 Cat.6 U/UTP 3 m"),
        ("Erreur de fusion 50.2", "Message « erreur fusion » affiché, impression impossible.",
         60, ["Unité de fusion remplacée. Compteurs remis à zéro, tests OK."], "Unité de fusion Brother HL-L5100"),
    ],
    "desktop": [
        ("Le poste ne démarre plus", "Écran noir au démarrage, voyant d'alimentation orange.",
         60, ["Alimentation défectueuse remplacée. Poste redémarré et testé avec l'utilisateur.",
              "Barrette mémoire mal insérée reclipsée après déplacement du poste. Démarrage OK."],
         "Barrette DDR4 8 Go 3200 MHz DIMM"),
        ("Lenteurs importantes à l'ouverture de session", "Plus de cinq minutes pour ouvrir la session le matin.",
         45, ["Disque mécanique remplacé par un SSD, profil recopié. Ouverture de session en 40 s.",
              "Profil itinérant corrompu recréé, cache nettoyé. Temps d'ouverture normal."],
         "SSD SATA 2,5\" 480 Go"),
        ("Écran bleu au démarrage", "Écran bleu MEMORY_MANAGEMENT plusieurs fois par jour.",
         60, ["Test mémoire en échec, barrette remplacée. Plus d'écran bleu après 2 h de test."],
         "Barrette DDR4 8 Go 3200 MHz DIMM"),
        ("Ventilateur très bruyant", "Le poste fait un bruit de frottement permanent.",
         30, ["Ventilateur processeur remplacé, dépoussiérage du poste."], "Ventilateur processeur OptiPlex SFF"),
        ("Lecteur de carte CPS non reconnu", "La carte CPS n'est plus lue, impossible de signer les prescriptions.",
         30, ["Lecteur CPS remplacé, pilote réinstallé. Signature testée avec le médecin.",
              "Cryptolib CPS mise à jour. Lecture de carte OK."], "Lecteur de carte CPS"),
        ("Clavier et souris ne répondent plus", "Le clavier et la souris ne fonctionnent plus après nettoyage.",
         20, ["Clavier et souris désinfectables remplacés."], "Clavier désinfectable IP68"),
    ],
    "laptop": [
        ("La batterie ne charge plus", "Le portable s'éteint dès qu'on le débranche.",
         30, ["Batterie remplacée, calibration effectuée."], "Batterie Latitude 5430 4 cellules"),
        ("Touches du clavier inopérantes", "Plusieurs touches (E, R, T) ne répondent plus.",
         45, ["Clavier remplacé. Test de toutes les touches OK."], "Clavier AZERTY ThinkPad T14"),
        ("Déconnexions Wi-Fi fréquentes", "Le Wi-Fi se coupe en passant d'une chambre à l'autre.",
         45, ["Pilote Wi-Fi mis à jour, gestion d'énergie de la carte désactivée. Test en déambulation OK."],
         None),
        ("Chargeur défectueux", "Le chargeur chauffe et le portable ne charge que par intermittence.",
         15, ["Chargeur remplacé."], "Chargeur USB-C 65 W"),
    ],
    "screen": [
        ("Écran noir, pas de signal", "L'écran reste noir avec le message « pas de signal ».",
         20, ["Câble DisplayPort défectueux remplacé.", "Écran en panne remplacé par un écran du stock."],
         "Câble DisplayPort 2 m"),
        ("Ligne verticale sur l'écran", "Une ligne verte verticale traverse l'écran.",
         20, ["Dalle défectueuse : écran remplacé, ancien écran renvoyé en garantie."], "Écran 24\" Full HD"),
    ],
    "scanner": [
        ("Le scanner entraîne les feuilles par deux", "Les documents scannés sautent des pages.",
         30, ["Rouleau d'entraînement et tampon de séparation remplacés. 50 pages de test OK."],
         "Rouleau d'entraînement scanner Fujitsu"),
    ],
    "switch": [
        ("Perte réseau dans l'aile", "Plus aucun poste de l'aile n'accède au réseau.",
         90, ["Commutateur redémarré après coupure, alimentation secourue vérifiée. Tous les postes OK.",
              "Module SFP de la liaison montante remplacé. Liaison rétablie."], "Module SFP 1000BASE-SX"),
        ("Prise réseau inactive", "La prise murale du bureau ne donne pas de réseau.",
         30, ["Port du commutateur réaffecté au bon VLAN, brassage refait."], "Cordon RJ45 Cat.6 U/UTP 1 m"),
    ],
    "ups": [
        ("Onduleur en alarme batterie", "L'onduleur bipe et signale un remplacement batterie.",
         45, ["Batterie remplacée, test d'autonomie de 10 minutes réussi."],
         "Batterie de remplacement APC RBC7"),
    ],
    "tablet": [
        ("Écran tactile ne répond plus", "La tablette de soins ne réagit plus au toucher.",
         20, ["Tablette réinitialisée et réenrôlée dans la gestion de flotte.",
              "Tablette échangée contre une tablette de prêt, ancienne envoyée en réparation."], None),
    ],
    "phone": [
        ("Téléphone IP sans tonalité", "Le téléphone affiche « enregistrement » en boucle.",
         20, ["Téléphone réenregistré sur l'IPBX, câble réseau remplacé."], "Cordon RJ45 Cat.6 U/UTP 2 m"),
    ],
}

REQUESTS = [
    ("Installation d'un poste pour un nouvel arrivant", "Arrivée lundi d'un nouvel agent : poste, écran, compte et imprimante.",
     90, ["Poste installé et masterisé, imprimantes du service ajoutées, session testée avec l'agent."],
     "desktop", None),
    ("Ajout d'un second écran", "Demande d'un deuxième écran pour le poste de secrétariat.",
     30, ["Second écran et bras double installés, affichage étendu configuré."], "screen", "Bras écran double"),
    ("Déménagement de poste", "Le bureau change de salle : déplacer poste, écran et téléphone.",
     60, ["Poste, écran et téléphone déplacés, prise réseau brassée, tests OK."], "desktop",
     "Cordon RJ45 Cat.6 U/UTP 3 m"),
    ("Installation d'une imprimante réseau", "Nouvelle imprimante livrée pour le service, à installer sur les postes.",
     60, ["Imprimante installée, adresse réservée, déployée sur les postes du service."], "printer", None),
    ("Remplacement clavier et souris par modèles désinfectables", "Demande de l'hygiène : matériel désinfectable pour le poste de soins.",
     20, ["Clavier et souris IP68 installés."], "desktop", "Souris désinfectable IP68"),
    ("Brassage d'une prise réseau", "Activer la prise murale pour un nouveau poste.",
     20, ["Prise brassée et activée dans le bon VLAN."], "switch", "Cordon RJ45 Cat.6 U/UTP 1 m"),
    ("Récupération de matériel à réformer", "Anciens postes à récupérer au fond du bureau.",
     30, ["Matériel récupéré, disques effacés, fiches de réforme établies."], "desktop", None),
    ("Installation d'un lecteur de carte CPS", "Médecin remplaçant : lecteur CPS à installer sur le poste de consultation.",
     30, ["Lecteur CPS installé, cryptolib à jour, signature testée."], "desktop", "Lecteur de carte CPS"),
    ("Ajout de mémoire", "Le logiciel d'imagerie est lent : ajout de mémoire demandé.",
     30, ["16 Go ajoutés, performances vérifiées avec l'utilisateur."], "laptop",
     "Barrette DDR4 16 Go 3200 MHz SO-DIMM"),
    ("Préparation d'un portable de prêt", "Portable de prêt pour une formation de trois jours.",
     45, ["Portable de prêt préparé, remis contre signature."], "laptop", None),
]

SUSPEND_REPORTS = [
    "Pièce à commander : {part}. Intervention suspendue en attente de livraison.",
    "Utilisateur absent, poste inaccessible. À replanifier.",
    "Diagnostic fait, {part} à remplacer : pièce non disponible en stock ce jour.",
]

CAPTIONS = ["Avant intervention", "Étiquette numéro de série", "Pièce défectueuse",
            "Après intervention", "Câblage de la baie", "Message d'erreur affiché"]


def pick_tech(team_bias, weights):
    techs = list(range(1, len(TECHNICIANS) + 1))
    w = []
    for t, wt in zip(techs, weights):
        team = TECHNICIANS[t - 1][2]
        w.append(wt * (3 if team in team_bias else 1))
    return rng.choices(techs, w)[0]


def build_tickets(sites, site_rooms, requesters, assets, articles):
    article_by_label = {a[2]: a[0] for a in articles}
    tech_weights = [rng.uniform(0.6, 1.4) for _ in TECHNICIANS]
    tickets, interventions, photos, parts_used = [], [], [], []
    n_tickets = 300
    span = (NOW - dt.datetime.combine(FIRST_DAY, dt.time(6, 0))).total_seconds()
    # Most tickets spread over the half year, the rest in the last two weeks
    # (the ones still open).
    recent = 14 * 24 * 3600
    opened_times = sorted(
        NOW - dt.timedelta(seconds=rng.random() * (span if rng.random() < 0.85 else recent))
        for _ in range(n_tickets))
    opened_times = [to_utc(to_local(t).replace(hour=rng.randint(7, 17))) if to_local(t).hour < 7
                    or to_local(t).hour > 18 else t for t in opened_times]
    opened_times.sort()
    seq = {"incident": 0, "request": 0}
    active_assets = [a for a in assets if a[11] in ("in_service", "in_repair")]
    for t_id, opened in enumerate(opened_times, 1):
        opened = opened.replace(microsecond=0)
        kind = "incident" if rng.random() < 0.62 else "request"
        seq[kind] += 1
        number = "%s-%d-%05d" % ("INC" if kind == "incident" else "DEM", opened.year, seq[kind])
        if kind == "incident":
            akind = rng.choices(list(INCIDENTS), [18, 30, 12, 10, 4, 5, 2, 3, 2])[0]
            title, desc, dur, reports, part = rng.choice(INCIDENTS[akind])
            candidates = [a for a in active_assets if a[2] == akind]
            asset = rng.choice(candidates)
            priority = rng.choices([1, 2, 3, 4], [5, 20, 60, 15])[0]
            if akind == "switch" and "aile" in title:
                priority = rng.choice([1, 2])
        else:
            title, desc, dur, reports, akind, part = rng.choice(REQUESTS)
            candidates = [a for a in active_assets if a[2] == akind]
            asset = rng.choice(candidates) if rng.random() < 0.6 else None
            priority = rng.choices([2, 3, 4], [10, 60, 30])[0]
        if asset is not None:
            site_id, room_id = asset[8], asset[9]
            title = "%s (%s)" % (title, asset[1])
        else:
            site_id = rng.choices([1, 2, 3, 4], [60, 15, 17, 8])[0]
            room_id = rng.choice([r for r in site_rooms[site_id] if r[4] not in ("technical", "storage")])[0]
        local_reqs = [r for r in requesters if r[6] == site_id]
        requester = asset[10] if asset is not None and asset[10] else rng.choice(local_reqs)[0]
        req_row = requesters[requester - 1]
        sla_hours = {1: 4, 2: 8, 3: 72, 4: 240}[priority]
        due = opened + dt.timedelta(hours=sla_hours)
        team_bias = {"printer": ["Impression et numérisation"], "scanner": ["Impression et numérisation"],
                     "switch": ["Réseaux et télécoms"], "phone": ["Réseaux et télécoms"],
                     "ups": ["Réseaux et télécoms"], "desktop": ["Postes de travail", "Support de proximité"],
                     "laptop": ["Postes de travail", "Support de proximité"]}.get(akind, ["Support de proximité"])
        tech = pick_tech(team_bias, tech_weights)
        age_h = (NOW - opened).total_seconds() / 3600

        status = None
        resolved_at = closed_at = None
        t_interventions = []
        if rng.random() < 0.04:
            # Cancelled by the requester; sometimes after an intervention was planned.
            status = "cancelled"
            closed_at = min(NOW, opened + dt.timedelta(hours=rng.randint(1, 60)))
            if rng.random() < 0.5:
                ps = book(tech, opened + dt.timedelta(minutes=60), dur)
                t_interventions.append(dict(status="cancelled", tech=tech, ps=ps,
                                            pe=ps + dt.timedelta(minutes=dur), created=opened + dt.timedelta(minutes=20),
                                            updated=closed_at, version=2))
        elif age_h < 20 and rng.random() < 0.45:
            status = "new"
        else:
            delay = {1: 15, 2: 60, 3: 60 * 20, 4: 60 * 48}[priority]
            if kind == "request" and priority >= 3:
                delay = 60 * 24 * rng.randint(1, 6)      # an appointment
            ps = book(tech, opened + dt.timedelta(minutes=rng.randint(delay // 2, delay * 2)),
                      dur * 13 // 10 + 30)
            created = opened + dt.timedelta(minutes=rng.randint(5, 90))
            n_visits = rng.choices([1, 2, 3], [76, 19, 5])[0]
            for v in range(n_visits):
                last = v == n_visits - 1
                planned = dict(tech=tech, ps=ps, pe=ps + dt.timedelta(minutes=dur), created=created)
                if rng.random() < 0.05 and not last:
                    # Rescheduled: this slot cancelled, a new one planned.
                    planned.update(status="cancelled", version=2,
                                   updated=min(NOW, ps - dt.timedelta(hours=rng.randint(1, 20))))
                    t_interventions.append(planned)
                    ps = book(tech, ps + dt.timedelta(minutes=rng.randint(60 * 20, 60 * 60)),
                              dur * 13 // 10 + 30)
                    created = planned["updated"]
                    continue
                travel = 0 if site_id == 1 else rng.choice([15, 20, 25, 30, 40])
                a_start = ps + dt.timedelta(minutes=rng.randint(-10, 40))
                work = max(10, int(dur * rng.uniform(0.6, 1.7)) // 5 * 5)
                a_end = a_start + dt.timedelta(minutes=work)
                # A visit that does not resolve the ticket is done too (its
                # report says why); it stays "suspended" while the next visit
                # is not planned yet.
                outcome = "resolved" if last else "visit"
                if ps > NOW:
                    planned.update(status="planned", version=rng.choice([1, 1, 1, 2]), updated=created)
                    t_interventions.append(planned)
                    break
                if a_start - dt.timedelta(minutes=travel) > NOW:
                    planned.update(status="planned", version=1, updated=created)
                    t_interventions.append(planned)
                    break
                if a_start > NOW:
                    planned.update(status="travelling", version=2, updated=a_start - dt.timedelta(minutes=travel))
                    t_interventions.append(planned)
                    break
                if a_end > NOW:
                    planned.update(status="in_progress", version=3, a_start=a_start, updated=a_start)
                    t_interventions.append(planned)
                    break
                report = rng.choice(reports) if outcome == "resolved" else \
                    rng.choice(SUSPEND_REPORTS).format(part=(part or "pièce").lower())
                planned.update(status="done", resolves=outcome == "resolved", a_start=a_start,
                               a_end=a_end, spent=work, travel=travel, report=report,
                               version=rng.choice([3, 4, 4, 5]) if outcome == "resolved" else 3,
                               updated=min(NOW, a_end + dt.timedelta(minutes=rng.randint(1, 120))))
                if outcome == "resolved" and rng.random() < 0.85:
                    planned["signatory"] = "%s %s" % (req_row[1], req_row[2]) if rng.random() < 0.8 else \
                        "%s %s" % (rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES))
                    planned["signed_at"] = a_end
                if part and (outcome == "resolved" and rng.random() < 0.7):
                    planned["part"] = article_by_label.get(part)
                t_interventions.append(planned)
                if outcome == "resolved":
                    break
                # Next visit after the part arrives or the user is back.
                if rng.random() < 0.3:
                    tech = pick_tech(team_bias, tech_weights)
                earliest = a_end + dt.timedelta(minutes=rng.randint(60 * 20, 60 * 96))
                if earliest > NOW and rng.random() < 0.5:
                    planned["status"] = "suspended"
                    break
                ps = book(tech, earliest, dur * 13 // 10 + 30)
                created = planned["updated"]
            last = t_interventions[-1]
            if last.get("resolves"):
                resolved_at = last["a_end"]
                close_after = dt.timedelta(hours=rng.randint(24, 120))
                if resolved_at + close_after <= NOW:
                    status, closed_at = "closed", resolved_at + close_after
                else:
                    status = "resolved"
            elif any(i.get("a_start") for i in t_interventions) or last["status"] in ("travelling",):
                status = "in_progress"
            else:
                status = "assigned"

        updated = max([opened] + [i["updated"] for i in t_interventions] +
                      [x for x in (resolved_at, closed_at) if x])
        tickets.append([t_id, number, kind, title, desc, priority, status, requester, site_id, room_id,
                        asset[0] if asset is not None else None, ts(opened), ts(due), ts(resolved_at),
                        ts(closed_at), ts(updated)])
        for itv in t_interventions:
            i_id = len(interventions) + 1
            signed = itv.get("signatory")
            interventions.append([
                i_id, t_id, itv["tech"], itv["status"], ts(itv["ps"]), ts(itv["pe"]),
                ts(itv.get("a_start")), ts(itv.get("a_end")), itv.get("spent"), itv.get("travel"),
                itv.get("report"), signed, "sig-%06d.png" % i_id if signed else None,
                ts(itv.get("signed_at")), itv["version"], ts(itv["created"]), ts(itv["updated"])])
            if itv.get("part"):
                parts_used.append((i_id, itv["part"], itv["a_end"]))
            if itv["status"] in ("done", "suspended") and rng.random() < 0.11:
                for p in range(rng.choice([1, 1, 2, 3])):
                    taken = itv["a_start"] + dt.timedelta(
                        seconds=rng.randint(0, int((itv["a_end"] - itv["a_start"]).total_seconds())))
                    local = to_local(taken)
                    png = rng.random() < 0.1
                    w, h = rng.choice([(4032, 3024), (3024, 4032), (4000, 3000), (1920, 1080)])
                    p_id = len(photos) + 1
                    stored = "itv%06d-%d-%s.%s" % (i_id, p + 1, fake_sha256("photo%d" % p_id)[:8],
                                                   "png" if png else "jpg")
                    synced = min(NOW, itv["a_end"] + dt.timedelta(minutes=rng.randint(1, 90)))
                    photos.append([
                        p_id, i_id, itv["tech"], stored,
                        ("Screenshot_%s.png" if png else "IMG_%s.jpg") % local.strftime("%Y%m%d_%H%M%S"),
                        "image/png" if png else "image/jpeg",
                        rng.randint(200_000, 900_000) if png else rng.randint(900_000, 4_800_000),
                        fake_sha256("photo-file%d" % p_id), w, h, rng.choice(CAPTIONS + [None]),
                        ts(taken), 1 if rng.random() < 0.85 else 2, ts(synced), ts(synced)])
    return tickets, interventions, photos, parts_used


# -- financial ---------------------------------------------------------------------

SUPPLIERS = [
    ("Rhône Informatique Services", "18 rue de l'Industrie", "69007", "Lyon"),
    ("Bureautique Drôme-Ardèche", "5 allée des Artisans", "26000", "Valence"),
    ("Alpes Réseaux et Télécoms", "221 avenue de l'Europe", "38330", "Montbonnot-Saint-Martin"),
    ("Valence Copie Impression", "9 rue Faventines", "26000", "Valence"),
    ("Énergie Secourue Sud-Est", "47 chemin du Moulin", "26800", "Portes-lès-Valence"),
    ("InfoMed Solutions", "3 place Bellecour", "69002", "Lyon"),
    ("Distri-Consommables Pro", "ZA des Portes du Rhône, lot 12", "07300", "Tournon-sur-Rhône"),
    ("Location Matériel Santé", "60 boulevard Vivier-Merle", "69003", "Lyon"),
]

COST_CENTRES = [
    ("DSI-EXP", "DSI - Exploitation et support", "412000.00"),
    ("DSI-PRJ", "DSI - Projets", "265000.00"),
    ("URG", "Pôle urgences", "38000.00"),
    ("BLOC", "Bloc opératoire", "52000.00"),
    ("ADM", "Directions administratives", "47000.00"),
    ("EHPAD", "EHPAD Les Glycines", "18500.00"),
]

CONTRACTS = [
    # supplier index, cost centre index, kind, title, start, end, annual
    (4, 1, "maintenance", "Maintenance du parc d'impression (coût à la page)", "2023-01-01", "2025-12-31", "18600.00"),
    (5, 1, "maintenance", "Maintenance préventive des onduleurs", "2024-01-01", "2026-12-31", "4200.00"),
    (3, 1, "support", "Support et garantie étendue des commutateurs", "2024-07-01", "2027-06-30", "9850.00"),
    (6, 2, "licence", "Licences logiciel de gestion des interventions", "2025-01-01", "2025-12-31", "12400.00"),
    (8, 1, "lease", "Location de 120 postes de travail (36 mois)", "2023-04-01", "2026-03-31", "51840.00"),
    (1, 1, "support", "Infogérance des serveurs (astreinte)", "2024-01-01", "2025-12-31", "28500.00"),
    (6, 3, "licence", "Logiciel dossier patient urgences", "2022-09-01", "2025-08-31", "16750.00"),
    (2, 5, "maintenance", "Maintenance des copieurs du siège", "2024-03-01", "2027-02-28", "5460.00"),
    (8, 6, "lease", "Location des tablettes de soins EHPAD", "2024-10-01", "2027-09-30", "3120.00"),
    (1, 2, "support", "Accompagnement migration postes Windows 11", "2025-02-01", "2025-09-30", "22000.00"),
]

ARTICLE_PRICES = {}  # article id -> unit price, filled from the catalogue


def build_financial(articles, assets, parts_used):
    suppliers = []
    for i, (name, addr, pc, city) in enumerate(SUPPLIERS, 1):
        words = [w for w in name.replace("-", " ").split() if len(w) > 2][:2]
        slug = "-".join(ascii_lower(w) for w in words)
        suppliers.append([i, name, luhn_ok_digits(13), addr, pc, city,
                          "contact@%s.example" % slug, fiction_landline(5000 + i * 37)])
    centres = [[i, code, label, 2025, Decimal(amount)] for i, (code, label, amount) in
               enumerate(COST_CENTRES, 1)]
    contracts = []
    for i, (sup, cc, kind, title, start, end, annual) in enumerate(CONTRACTS, 1):
        contracts.append([i, "CTR-%s-%03d" % (start[:4], i), sup, cc, kind, title, start, end,
                          Decimal(annual), "EUR"])
    for a in articles:
        base = {"Toner et encre": (45, 180), "Consommables": (8, 60), "Pièces détachées": (25, 240),
                "Mémoire": (25, 90), "Stockage": (20, 320), "Périphériques": (9, 140),
                "Alimentation": (6, 70), "Câblage": (2, 45), "Écrans": (35, 190), "Postes": (480, 950)}
        lo, hi = base[a[3]]
        ARTICLE_PRICES[a[0]] = money(rng.uniform(lo, hi)) if a[6] != "metre" else money("0.85")

    invoices, lines = [], []
    inv_seq = {}

    def add_invoice(sup, contract_id, issued, lines_spec, cc):
        inv_seq[sup] = inv_seq.get(sup, 0) + 1
        i_id = len(invoices) + 1
        excl = sum((money(q * p) for _, q, p, _, _ in lines_spec), Decimal("0.00"))
        vat = money(excl * Decimal("0.20"))
        due = issued + dt.timedelta(days=30)
        paid = due - dt.timedelta(days=rng.randint(0, 12)) if due + dt.timedelta(days=5) <= NOW.date() else None
        status = "paid" if paid else rng.choice(["received", "approved", "approved"])
        if status == "paid" and rng.random() < 0.04:
            status, paid = "disputed", None
        invoices.append([i_id, "F%d-%05d" % (issued.year, 200 + inv_seq[sup] * 7 + sup), sup,
                         contract_id, day(issued), day(due), excl, vat, excl + vat, status, day(paid)])
        for desc, q, p, article_id, itv_id in lines_spec:
            lines.append([len(lines) + 1, cc, i_id, itv_id, None, article_id, desc, money(q), p,
                          money(q * p), day(issued)])

    # Contract invoices: quarterly for maintenance and support, monthly for leases.
    for c in contracts:
        c_id, _, sup, cc, kind, title, start, end, annual = c[:9]
        months = 1 if kind == "lease" else (12 if kind == "licence" else 3)
        d = max(dt.date.fromisoformat(start), dt.date(2025, 1, 1))
        while d <= NOW.date() and d <= dt.date.fromisoformat(end):
            amount = money(annual * months / 12)
            add_invoice(sup, c_id, d, [("%s - échéance %s" % (title, d.strftime("%m/%Y")), 1, amount,
                                        None, None)], cc)
            m = d.month - 1 + months
            d = dt.date(d.year + m // 12, m % 12 + 1, 1)

    # Parts used by interventions: monthly consumables invoices from the distributor,
    # one cost line per part, booked to DSI exploitation.
    by_month = {}
    for itv_id, article_id, when in parts_used:
        by_month.setdefault((when.year, when.month), []).append((itv_id, article_id))
    for (y, m), items in sorted(by_month.items()):
        issued = dt.date(y + (m // 12), m % 12 + 1, 2)
        if issued > NOW.date():
            continue
        spec = []
        for itv_id, article_id in items:
            label = articles[article_id - 1][2]
            spec.append(("%s (intervention %d)" % (label, itv_id), 1, ARTICLE_PRICES[article_id],
                         article_id, itv_id))
        add_invoice(7, None, issued, spec, 1)

    # One-off purchases: the devices still in stock, bought this year from
    # the reseller, one invoice per month, the asset on each cost line.
    purchases = {}
    for a in assets:
        if a[11] == "in_stock" and a[12] is None:
            when = dt.date(2025, rng.randint(1, 5), rng.randint(3, 25))
            purchases.setdefault(when.replace(day=28), []).append((a, when))
    price = {"desktop": "689.00", "laptop": "1149.00", "screen": "179.90", "printer": "389.00",
             "scanner": "940.00", "tablet": "749.00", "phone": "265.00", "docking_station": "219.00"}
    for issued, items in sorted(purchases.items(), key=lambda kv: kv[0]):
        spec = [("%s %s %s (%s)" % (a[2], a[3], a[4], a[1]), 1, Decimal(price.get(a[2], "500.00")),
                 None, None) for a, _ in items]
        first = len(lines)
        add_invoice(1, None, issued, spec, 2)
        for line, (a, _) in zip(lines[first:], items):
            line[4] = a[0]
    return suppliers, centres, contracts, invoices, lines


# -- main ---------------------------------------------------------------------------

def generate():
    del out[:]
    rng.seed(SEED)
    ARTICLE_PRICES.clear()
    SCHEDULE.clear()

    sites, buildings, floors, rooms, site_rooms = build_locations()

    technicians = []
    for i, (first, last, team) in enumerate(TECHNICIANS, 1):
        login = ascii_lower(first[0] + last)
        created = dt.datetime(2022, 9, 1, 8) + dt.timedelta(days=rng.randint(0, 700), minutes=rng.randint(0, 500))
        technicians.append([i, login, first, last, "%s.%s@%s" % (ascii_lower(first), ascii_lower(last), DOMAIN),
                            fiction_mobile(1200 + i * 13), team, 1,
                            ts(created), ts(created)])

    requesters, emails = [], set()
    for i in range(1, 91):
        site_id = rng.choices([1, 2, 3, 4], [60, 14, 18, 8])[0]
        while True:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = "%s.%s@%s" % (ascii_lower(first), ascii_lower(last), DOMAIN)
            if email not in emails:
                emails.add(email)
                break
        code = sites[site_id - 1][1]
        room = rng.choice([r for r in site_rooms[site_id] if r[4] in ("office", "ward", "consultation",
                                                                        "reception", "lab")] or site_rooms[site_id])
        requesters.append([i, first, last, email, fiction_landline(2000 + i * 7),
                           rng.choice(DEPARTMENTS[code]), site_id, room[0]])

    assets = build_assets(sites, site_rooms, requesters)
    articles = build_catalogue()
    tickets, interventions, photos, parts_used = build_tickets(sites, site_rooms, requesters, assets, articles)
    suppliers, centres, contracts, invoices, lines = build_financial(articles, assets, parts_used)

    counts = {"interventions": len(interventions)}
    for st in ("planned", "travelling", "in_progress", "suspended", "done", "cancelled"):
        counts[st] = sum(1 for i in interventions if i[3] == st)

    out.append("-- miscomm demo service-desk data. GENERATED by scripts/demo-data.py")
    out.append("-- (seed %d, now = %s UTC): do not edit, change the script and run it again." % (SEED, ts(NOW)))
    out.append("-- Loads after conf/servicedesk/schema.sql into SQLite and PostgreSQL alike.")
    out.append("-- %d technicians, %d sites, %d rooms, %d requesters, %d assets, %d articles, %d tickets,"
               % (len(technicians), len(sites), len(rooms), len(requesters), len(assets), len(articles),
                  len(tickets)))
    out.append("-- %d interventions (%s), %d photos, %d invoices, %d cost lines."
               % (len(interventions), ", ".join("%d %s" % (counts[s], s) for s in
                                                ("done", "planned", "in_progress", "travelling", "suspended",
                                                 "cancelled")),
                  len(photos), len(invoices), len(lines)))
    out.append("")
    out.append("BEGIN;")
    insert("sites", ["id", "code", "name", "address", "postcode", "city", "phone"], sites)
    insert("buildings", ["id", "site_id", "code", "name"], buildings)
    insert("floors", ["id", "building_id", "level", "name"], floors)
    insert("rooms", ["id", "floor_id", "code", "name", "kind"], rooms)
    insert("technicians", ["id", "login", "first_name", "last_name", "email", "phone", "team", "active",
                           "created_at", "updated_at"], technicians)
    insert("requesters", ["id", "first_name", "last_name", "email", "phone", "department", "site_id",
                          "room_id"], requesters)
    insert("assets", ["id", "asset_tag", "kind", "manufacturer", "model", "serial_number", "hostname",
                      "ip_address", "site_id", "room_id", "assigned_to", "status", "installed_on",
                      "warranty_end", "notes", "version", "created_at", "updated_at"], assets)
    insert("catalogue_articles", ["id", "reference", "label", "category", "manufacturer", "manufacturer_ref",
                                  "unit", "stock_quantity", "min_stock", "active", "version", "created_at",
                                  "updated_at"], articles)
    insert("tickets", ["id", "number", "kind", "title", "description", "priority", "status", "requester_id",
                       "site_id", "room_id", "asset_id", "opened_at", "due_at", "resolved_at", "closed_at",
                       "updated_at"], tickets)
    insert("interventions", ["id", "ticket_id", "technician_id", "status", "planned_start", "planned_end",
                             "actual_start", "actual_end", "time_spent_minutes", "travel_minutes", "report",
                             "signatory_name", "signature_file", "signed_at", "version", "created_at",
                             "updated_at"], interventions)
    insert("intervention_photos", ["id", "intervention_id", "technician_id", "file_name", "original_name",
                                   "content_type", "size_bytes", "sha256", "width", "height", "caption",
                                   "taken_at", "version", "created_at", "updated_at"], photos)
    insert("suppliers", ["id", "name", "siret", "address", "postcode", "city", "email", "phone"], suppliers)
    insert("cost_centres", ["id", "code", "label", "budget_year", "budget_amount"], centres)
    insert("contracts", ["id", "number", "supplier_id", "cost_centre_id", "kind", "title", "start_date",
                         "end_date", "annual_amount", "currency"], contracts)
    insert("invoices", ["id", "number", "supplier_id", "contract_id", "issued_on", "due_on", "amount_excl_tax",
                        "vat_amount", "amount_incl_tax", "status", "paid_on"], invoices)
    insert("cost_lines", ["id", "cost_centre_id", "invoice_id", "intervention_id", "asset_id", "article_id",
                          "description", "quantity", "unit_price", "amount", "booked_on"], lines)
    out.append("")
    out.append("COMMIT;")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", default=OUT_DEFAULT, help="file to write, - for standard output")
    ap.add_argument("--check", action="store_true", help="only compare with the existing file")
    args = ap.parse_args()
    text = generate()
    if args.check:
        try:
            with open(args.output, encoding="utf-8") as f:
                same = f.read() == text
        except FileNotFoundError:
            same = False
        if not same:
            print("demo-data: %s is not what scripts/demo-data.py generates; run it again" % args.output,
                  file=sys.stderr)
            return 1
        return 0
    if args.output == "-":
        sys.stdout.write(text)
    else:
        tmp = args.output + ".tmp"
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, args.output)
        print("demo-data: wrote %s" % args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
