#!/usr/bin/env python3
"""Regenerates controller/data/belfiore-italia.csv: the cadastral (Belfiore) code of every
Comune of Italy that can be identified without doubt.

ISTAT's registry (controller/data/italia-comuni.csv) has no Belfiore codes outside Puglia
(controller/data/puglia-comuni.csv has them for Puglia, from ISTAT). The crates.io package
`codice_fiscale` (MIT) ships `belfiore.txt`, the codes of the Agenzia delle Entrate keyed by
name and province, with a flag for the Comuni that exist today. A Comune gets a code here
only when exactly one current entry has its province and its name (accents, apostrophes
and hyphens folded; either part of a bilingual name); Comuni created or renamed after that
list (15 in 2026) get none, and validation does not check their IPA code. The Puglia rows
must agree with ISTAT's file (controller/src/api/istat.rs tests it).

Usage: hack/belfiore-codes.py PATH/TO/codice_fiscale-0.4.1/belfiore.txt
(`cargo info codice_fiscale@0.4.1` puts the crate under ~/.cargo/registry/src/).
"""
import csv
import re
import sys
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fold(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^A-Z0-9]", " ", ascii_name.upper()).split())


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    current: dict[tuple[str, str], set[str]] = {}
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(",")
            if len(fields) == 4 and fields[3] == "1":
                code, province, name, _ = fields
                current.setdefault((province, fold(name)), set()).add(code)
    rows, missing = [], []
    with open(ROOT / "controller/data/italia-comuni.csv", encoding="utf-8") as f:
        for comune in csv.DictReader(f):
            names = {fold(n) for n in comune["name"].split("/")} | {fold(comune["name"])}
            codes = set().union(*(current.get((comune["province"], n), set()) for n in names))
            if len(codes) == 1:
                rows.append((comune["istat"], codes.pop()))
            else:
                missing.append(f'{comune["istat"]} {comune["name"]} ({comune["province"]})')
    out = ROOT / "controller/data/belfiore-italia.csv"
    with open(out, "w", encoding="utf-8", newline="") as f:
        f.write("istat,belfiore\n")
        for istat, code in rows:
            f.write(f"{istat},{code}\n")
    print(f"{out}: {len(rows)} Comuni; without a code: {len(missing)}", file=sys.stderr)
    for m in missing:
        print(f"  {m}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
