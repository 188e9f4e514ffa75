#!/usr/bin/env python3
"""The peak partition model: which keys take how many writes and reads a second.

Input: tests/bench/capacity.rs's JSON (local/capacity), where each operation lists
the partition keys its DynamoDB calls wrote and read, with their units, as the
emulator's meter counted them. Each operation's rate at peak (PEAK below, from
issue 11) multiplies its units on each key. Keys are grouped by shape:

* a constant key (`OPS_AVAILABLE`, `JOBS`) takes the whole load;
* a sharded key (`QUEUE#<shard>`, from the store's SHARDED_KEYS) takes the load
  divided by its shards (hashing spreads it evenly);
* a per-entity key (`MEMBER#<id>`, `CHAT#<id>`) takes one entity's share: it is
  listed, but only a constant or sharded key can be hot.

A key may take at most 30 % of a partition's limit: 300 WCU/s and 900 RRU/s.
local/partition_budget.json lists the keys known to be over it, each with the load
measured when it was listed: such a key may not grow, and the list only shrinks.

Usage: local/capacity | python3 local/partition_model.py [--markdown] [--no-check]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WCU_LIMIT, RRU_LIMIT, SHARE = 1000.0, 3000.0, 0.30

# Requests a second at peak (issue 11): 2,000 member sends (10 % to waiting
# chats), 2,000 operator replies, 2,000 operators heartbeating every 30 s, 200
# assignment triggers and 40 whole assignment passes.
PEAK = {
    # One member message in ten taken as the first of its chat in a new hour (it
    # moves the open-chats entry); a conversation of ten messages an hour or more.
    "send_paid_held": 1620.0,
    "send_paid_held_new_hour": 180.0,
    "send_paid_waiting": 200.0,
    "operator_reply": 2000.0,
    # Every heartbeat modelled as one that also rewrites the listing's response
    # time (the worst case; most find it unchanged and write half as much).
    "heartbeat_after_reply": 2000.0 / 30.0,
    # Each waiting send's SQS trigger, as a batch of one that reads the operators
    # afresh (the upper bound: batches share a pass and the list is kept a second).
    "assignment_trigger": 200.0,
    # Whole passes: asked for by a freed slot (an operator online, a release, a
    # completed assignment, a close of a held chat), the sweep, and a batch whose
    # chats find no room in its cached operators (in a backlog, every batch: 20 a
    # second at ten triggers a batch). Issue 11 counted 200 when every trigger ran
    # one; a freed slot per 100 member messages plus a backlog's batches is 40.
    "assignment_pass": 40.0,
}

_ENTITY = re.compile(r"^([A-Z_]+)#(.+)$")


def shape(pk: str, sharded: dict[str, int]) -> tuple[str, float, str]:
    """(the key's shape, what divides the load, kind)."""
    m = _ENTITY.match(pk)
    if not m:
        return pk, 1.0, "constant"
    prefix, rest = m.groups()
    if prefix in sharded and rest.isdigit():
        return f"{prefix}#<shard>", float(sharded[prefix]), "sharded"
    return f"{prefix}#<id>", 1.0, "per entity"


def model(capacity: dict) -> dict[str, dict]:
    sharded = {k: int(v) for k, v in capacity.get("sharded_keys", {}).items()}
    keys: dict[str, dict] = {}
    for op, rate in PEAK.items():
        result = capacity["operations"].get(op)
        if result is None:
            raise SystemExit(f"partition_model: the capacity run has no {op}")
        for where_pk, units in result.get("partitions", {}).items():
            where, pk = where_pk.split(" ", 1)
            name, divisor, kind = shape(pk, sharded)
            slot = keys.setdefault(f"{where} {name}", {"kind": kind, "wcu": 0.0, "rru": 0.0, "by": {}})
            w, r = rate * units["wru"] / divisor, rate * units["rru"] / divisor
            slot["wcu"] += w
            slot["rru"] += r
            if w or r:
                slot["by"][op] = round(w + r, 1)
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=Path, default=ROOT / "local" / "partition_budget.json")
    parser.add_argument("--markdown", action="store_true", help="print the table for docs/data-model.md")
    parser.add_argument("--no-check", action="store_true")
    args = parser.parse_args(argv)
    keys = model(json.load(sys.stdin))
    allowed = json.loads(args.budget.read_text())["over_budget"] if args.budget.exists() else {}
    problems = []
    rows = sorted(keys.items(), key=lambda kv: (kv[1]["kind"] == "per entity",
                                                -(kv[1]["wcu"] / WCU_LIMIT + kv[1]["rru"] / RRU_LIMIT)))
    for key, k in rows:
        if k["kind"] == "per entity":
            continue
        over = k["wcu"] > SHARE * WCU_LIMIT or k["rru"] > SHARE * RRU_LIMIT
        known = allowed.get(key)
        if over and known is None:
            problems.append(f"{key}: {k['wcu']:.0f} WCU/s, {k['rru']:.0f} RRU/s is over 30 % of a partition")
        elif known is not None and (k["wcu"] > known["wcu"] + 0.5 or k["rru"] > known["rru"] + 0.5):
            problems.append(f"{key}: grew to {k['wcu']:.0f} WCU/s, {k['rru']:.0f} RRU/s (listed at {known})")
    for key in allowed:
        if key in keys and not (keys[key]["wcu"] > SHARE * WCU_LIMIT or keys[key]["rru"] > SHARE * RRU_LIMIT):
            problems.append(f"{key}: now within budget; take it off {args.budget.name}")
    if args.markdown:
        print("| key (index or table, shape) | kind | WCU/s at peak | % of 1,000 | RRU/s at peak | % of 3,000 | from |")
        print("|---|---|---|---|---|---|---|")
        for key, k in rows:
            by = ", ".join(f"{op} {v:g}" for op, v in sorted(k["by"].items(), key=lambda x: -x[1]))
            if k["kind"] == "per entity":
                w_pct = r_pct = "spread over entities"
            else:
                w_pct, r_pct = f"{100 * k['wcu'] / WCU_LIMIT:.0f} %", f"{100 * k['rru'] / RRU_LIMIT:.0f} %"
            print(f"| `{key}` | {k['kind']} | {k['wcu']:.0f} | {w_pct} | {k['rru']:.0f} | {r_pct} | {by} |")
    else:
        for key, k in rows:
            print(f"  {key:40} {k['kind']:10} {k['wcu']:8.0f} WCU/s {k['rru']:8.0f} RRU/s")
    if problems and not args.no_check:
        print("partition_model: keys over budget", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1
    if not args.no_check:
        print(f"partition_model: OK ({len(allowed)} keys known over budget, none grew)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
