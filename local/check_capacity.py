#!/usr/bin/env python3
"""Checks tests/bench/capacity.rs's figures against local/capacity_budget.json.

Every operation has a budget of write units (WRU) and read units (RRU); none may
cost more, and every operation measured must have a budget (a new operation adds
its line). The budget file is a ratchet: an improvement lowers it in the same
commit; a change that needs more raises it in a commit of its own that says why.

Usage: local/capacity | python3 local/check_capacity.py [--budget F]
Exit 0 with a table when every operation is within budget, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=Path, default=ROOT / "local" / "capacity_budget.json")
    args = parser.parse_args(argv)
    measured = json.load(sys.stdin)["operations"]
    budget = json.loads(args.budget.read_text())["operations"]
    problems = []
    lines = []
    for op in sorted(set(measured) | set(budget)):
        m, b = measured.get(op), budget.get(op)
        if m is None:
            problems.append(f"{op}: in the budget but not measured")
            continue
        if "wru" not in m:
            continue  # a derived figure (per claim), not a request
        if b is None:
            problems.append(f"{op}: measured ({m['wru']:.0f} WRU, {m['rru']:.1f} RRU) but has no budget")
            continue
        for unit in ("wru", "rru"):
            if m[unit] > b[unit] + 1e-9:
                problems.append(f"{op}: {m[unit]:g} {unit.upper()} > budget {b[unit]:g}")
        lines.append(f"  {op:42} WRU {m['wru']:5.0f} / {b['wru']:<5g} RRU {m['rru']:5.1f} / {b['rru']:g}")
    print("\n".join(lines))
    if problems:
        print("check_capacity: over budget or unbudgeted:", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1
    print(f"check_capacity: OK, {len(lines)} operations within budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
