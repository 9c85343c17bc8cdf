"""Check what a built libmiscomm.so shows the programs that link it.

    check_exports.py LIBRARY [INCLUDE_DIR]

Fails (exit 1) when the library exports a symbol whose name does not start
with mc_ (the public API, include/miscomm/), when it needs iniparser, which
only the daemon and misctl use, or, given the include directory, when a
function its headers declare MC_API is not exported. Uses nm and readelf
from binutils.
"""
import glob
import os
import re
import subprocess
import sys


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True,
                         check=True).stdout
    names = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            names.append(fields[2].split("@")[0])
    return names


def needed(lib):
    out = subprocess.run(["readelf", "-d", lib], capture_output=True, text=True,
                         check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def declared(include_dir):
    names = set()
    for header in glob.glob(os.path.join(include_dir, "miscomm", "*.h")):
        with open(header) as f:
            text = f.read()
        names.update(re.findall(r"\bMC_API\b[^;(]*?\b(mc_\w+)\s*\(", text))
    return names


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    lib = sys.argv[1]
    names = exported(lib)
    foreign = sorted(n for n in names if not n.startswith("mc_"))
    libs = needed(lib)
    print("%s: %d exported symbols, needs %s" % (lib, len(names), ", ".join(libs) or "nothing"))
    ok = True
    if not any(n.startswith("mc_") for n in names):
        print("FAIL: no mc_ symbol exported at all")
        ok = False
    if foreign:
        print("FAIL: %d exported symbols outside the mc_ API, e.g. %s"
              % (len(foreign), ", ".join(foreign[:10])))
        ok = False
    if len(sys.argv) == 3:
        api = declared(sys.argv[2])
        missing = sorted(api - set(names))
        if not api:
            print("FAIL: no MC_API function found under %s" % sys.argv[2])
            ok = False
        if missing:
            print("FAIL: declared MC_API but not exported: %s" % ", ".join(missing))
            ok = False
    iniparser = [n for n in libs if "iniparser" in n]
    if iniparser:
        print("FAIL: needs %s (only miscommd and misctl read configuration files)"
              % ", ".join(iniparser))
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
