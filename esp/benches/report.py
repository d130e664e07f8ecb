#!/usr/bin/env python3
"""Print the esp benchmark results (target/criterion/esp_*) as Gbit/s tables.

Gbit/s = inner-packet octets * 8 / mean time per packet. Usage:
    python3 esp/benches/report.py [target-dir]
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target") / "criterion"
rows = {}
for bench in root.glob("esp_*/**/new/benchmark.json"):
    meta = json.loads(bench.read_text())
    est = json.loads((bench.parent / "estimates.json").read_text())
    size = int(meta["group_id"].split("/")[1])
    ns = est["mean"]["point_estimate"]
    rows.setdefault(meta["function_id"], {})[size] = (size * 8 / ns, ns)

sizes = sorted({s for r in rows.values() for s in r})
print("| benchmark | " + " | ".join(f"{s} B Gbit/s (ns)" for s in sizes) + " |")
print("|---|" + "---|" * len(sizes))
for name in sorted(rows):
    cells = []
    for s in sizes:
        if s in rows[name]:
            g, ns = rows[name][s]
            cells.append(f"{g:.2f} ({ns:.0f})")
        else:
            cells.append("-")
    print(f"| {name} | " + " | ".join(cells) + " |")
