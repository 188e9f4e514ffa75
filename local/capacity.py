#!/usr/bin/env python3
"""What DynamoDB would bill for a request, from the items it touches.

Pure functions over DynamoDB-JSON items ({"PK": {"S": "..."}, ...}); the emulator
calls them with the item before and after each write and with what each read
returned. The rules, from DynamoDB's documentation (checked 2026-11-30):

* Item size: the UTF-8 length of every attribute name plus its value. A string is
  its UTF-8 length; a binary its byte length; a number about one byte per two
  significant digits plus one; a boolean or null one byte; a list or map three
  bytes plus, per element, one byte and the element (a map's keys count as
  names); a set the sum of its elements.
* Writes: one write request unit (WRU) per started 1 KB, at least 1. A put that
  replaces an item, and an update, bill the larger of the item before and after;
  a delete bills the item deleted. Inside TransactWriteItems every action costs
  twice, a ConditionCheck included. A write whose condition fails still bills
  (the item as it is, at least 1).
* Global secondary indexes: an index entry is the index's key attributes, the
  table's key attributes and the projected attributes, plus 100 bytes. A write
  to the table writes each index whose entry changes: 1 put when the item enters
  the index or a projected attribute changes, 1 delete when it leaves, a delete
  and a put (2 writes) when the index key changes. Each index write is one WRU
  per started 1 KB of the entry (never doubled by a transaction).
* Reads: one read request unit (RRU) per started 4 KB for a strongly consistent
  read, half for an eventually consistent one, twice for a transactional one.
  GetItem bills the item (at least one unit, found or not); BatchGetItem each
  item; Query and Scan the sum of the items they read (before any filter),
  rounded up once per call.

Run the unit tests: .venv/bin/python -m unittest local/capacity.py
"""

from __future__ import annotations

import math
import unittest
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable

KB = 1024
INDEX_OVERHEAD = 100


def _number_size(text: str) -> int:
    digits = Decimal(text).normalize().as_tuple().digits
    significant = len(digits) or 1
    return math.ceil(significant / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    """The size of one DynamoDB-JSON value (without its name)."""
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode("utf-8"))
    if kind == "N":
        return _number_size(v)
    if kind == "B":
        return len(v if isinstance(v, (bytes, bytearray)) else str(v).encode("utf-8"))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in v)
    if kind == "NS":
        return sum(_number_size(n) for n in v)
    if kind == "BS":
        return sum(len(b) for b in v)
    if kind == "L":
        return 3 + sum(1 + value_size(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + value_size(e) for k, e in v.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(v) for name, v in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / KB))


def read_units(size: int, consistent: bool, transactional: bool = False) -> float:
    units = max(1, math.ceil(size / (4 * KB)))
    if transactional:
        return 2.0 * units
    return float(units) if consistent else units / 2


@dataclass(frozen=True)
class Index:
    """A global secondary index: its key attributes and what it projects."""

    name: str
    keys: tuple[str, ...]
    projection: str = "ALL"  # ALL | KEYS_ONLY | INCLUDE
    include: tuple[str, ...] = ()

    @staticmethod
    def from_description(gsi: dict[str, Any]) -> "Index":
        p = gsi.get("Projection") or {}
        return Index(
            name=gsi["IndexName"],
            keys=tuple(k["AttributeName"] for k in gsi["KeySchema"]),
            projection=p.get("ProjectionType", "ALL"),
            include=tuple(p.get("NonKeyAttributes") or ()),
        )

    def entry(self, item: dict[str, Any] | None, table_keys: Iterable[str]) -> dict[str, Any] | None:
        """The index's copy of `item`, or None if the item is not in the index."""
        if not item or any(k not in item for k in self.keys):
            return None
        keep = set(self.keys) | set(table_keys)
        if self.projection == "ALL":
            return dict(item)
        if self.projection == "INCLUDE":
            keep |= set(self.include)
        return {k: v for k, v in item.items() if k in keep}

    def key_of(self, item: dict[str, Any] | None) -> tuple | None:
        if not item or any(k not in item for k in self.keys):
            return None
        return tuple(tuple(sorted(item[k].items())) for k in self.keys)


@dataclass
class WriteCost:
    table: int = 0
    indexes: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.table + sum(self.indexes.values())

    def add(self, other: "WriteCost") -> None:
        self.table += other.table
        for k, v in other.indexes.items():
            self.indexes[k] = self.indexes.get(k, 0) + v


def index_writes(before: dict | None, after: dict | None, table_keys: Iterable[str],
                 indexes: Iterable[Index]) -> dict[str, int]:
    """WRU each index takes when the item goes from `before` to `after`."""
    table_keys = tuple(table_keys)
    out: dict[str, int] = {}
    for index in indexes:
        old, new = index.entry(before, table_keys), index.entry(after, table_keys)
        units = 0
        if old is None and new is None:
            continue
        if old is None:
            units = write_units(item_size(new) + INDEX_OVERHEAD)
        elif new is None:
            units = write_units(item_size(old) + INDEX_OVERHEAD)
        elif index.key_of(before) != index.key_of(after):
            units = write_units(item_size(old) + INDEX_OVERHEAD) + write_units(item_size(new) + INDEX_OVERHEAD)
        elif old != new:
            units = write_units(item_size(new) + INDEX_OVERHEAD)
        if units:
            out[index.name] = units
    return out


def index_key_writes(before: dict | None, after: dict | None, table_keys: Iterable[str],
                     indexes: Iterable[Index]) -> list[tuple[str, str, int]]:
    """Where index writes land: (index, partition key value, WRU). A moved key
    deletes under the old partition key and puts under the new one."""
    table_keys = tuple(table_keys)
    out: list[tuple[str, str, int]] = []

    def pk(index: Index, item: dict | None) -> str:
        (_, v), = item[index.keys[0]].items()
        return str(v)

    for index in indexes:
        old, new = index.entry(before, table_keys), index.entry(after, table_keys)
        if old is None and new is None:
            continue
        if old is not None and (new is None or index.key_of(before) != index.key_of(after)):
            out.append((index.name, pk(index, before), write_units(item_size(old) + INDEX_OVERHEAD)))
        if new is not None and (old is None or index.key_of(before) != index.key_of(after) or old != new):
            out.append((index.name, pk(index, after), write_units(item_size(new) + INDEX_OVERHEAD)))
    return out


def write_cost(before: dict | None, after: dict | None, table_keys: Iterable[str],
               indexes: Iterable[Index], transactional: bool = False, applied: bool = True) -> WriteCost:
    """What one write action bills: the table (doubled in a transaction) and each
    index. A write that did not apply (its condition failed) bills the item as it
    is and touches no index."""
    factor = 2 if transactional else 1
    if not applied:
        return WriteCost(table=factor * write_units(item_size(before)))
    table = factor * write_units(max(item_size(before), item_size(after)))
    return WriteCost(table=table, indexes=index_writes(before, after, table_keys, indexes))


def condition_check_cost(item: dict | None) -> WriteCost:
    """A ConditionCheck inside TransactWriteItems: billed like a transactional write."""
    return WriteCost(table=2 * write_units(item_size(item)))


def query_cost(items: Iterable[dict], consistent: bool) -> float:
    return read_units(sum(item_size(i) for i in items), consistent)


# --------------------------------------------------------------------------- tests


def _s(n: int) -> dict[str, Any]:
    return {"S": "x" * n}


class CapacityTest(unittest.TestCase):
    def test_sizes_follow_the_documented_rules(self) -> None:
        self.assertEqual(item_size({"PK": {"S": "ab"}}), 4)
        self.assertEqual(item_size({"name": {"S": "é"}}), 4 + 2, "UTF-8 bytes")
        self.assertEqual(value_size({"N": "12345"}), 4, "3 bytes for 5 digits, plus 1")
        self.assertEqual(value_size({"N": "100"}), 2, "trailing zeroes are trimmed")
        self.assertEqual(value_size({"BOOL": True}), 1)
        self.assertEqual(value_size({"NULL": True}), 1)
        self.assertEqual(value_size({"L": [{"S": "ab"}, {"S": "c"}]}), 3 + (1 + 2) + (1 + 1))
        self.assertEqual(value_size({"M": {"k": {"S": "vv"}}}), 3 + 1 + 1 + 2)
        self.assertEqual(value_size({"SS": ["a", "bc"]}), 3)

    def test_a_1025_byte_item_costs_two_units_and_twice_that_in_a_transaction(self) -> None:
        item = {"PK": _s(1021)}  # 2 + 1021 = 1023 bytes
        self.assertEqual(item_size(item), 1023)
        self.assertEqual(write_cost(None, item, ["PK"], []).table, 1)
        item = {"PK": _s(1023)}  # 1025 bytes
        self.assertEqual(item_size(item), 1025)
        self.assertEqual(write_cost(None, item, ["PK"], []).table, 2)
        self.assertEqual(write_cost(None, item, ["PK"], [], transactional=True).table, 4)

    def test_an_update_bills_the_larger_image_and_a_failed_condition_still_bills(self) -> None:
        small, large = {"PK": _s(10)}, {"PK": _s(10), "big": _s(3000)}
        self.assertEqual(write_cost(large, small, ["PK"], []).table, 3, "shrinking bills the before image")
        self.assertEqual(write_cost(small, large, ["PK"], []).table, 3)
        self.assertEqual(write_cost(large, None, ["PK"], []).table, 3, "a delete bills what it deleted")
        self.assertEqual(write_cost(small, large, ["PK"], [], applied=False).table, 1)
        self.assertEqual(write_cost(None, None, ["PK"], [], transactional=True, applied=False).table, 2)
        self.assertEqual(condition_check_cost(large).total, 6)

    def test_indexes_are_written_only_when_their_entry_changes(self) -> None:
        gsi = Index("GSI1", ("GSI1PK", "GSI1SK"), "KEYS_ONLY")
        everything = Index("GSI2", ("GSI2PK",), "ALL")
        base = {"PK": _s(5), "SK": _s(5), "GSI1PK": _s(5), "GSI1SK": _s(5), "GSI2PK": _s(5), "n": {"N": "1"}}
        bumped = dict(base, n={"N": "2"})
        cost = write_cost(base, bumped, ["PK", "SK"], [gsi, everything])
        self.assertEqual(cost.indexes, {"GSI2": 1}, "a KEYS_ONLY index ignores a non-key change")
        moved = dict(base, GSI1SK=_s(6))
        self.assertEqual(write_cost(base, moved, ["PK", "SK"], [gsi]).indexes, {"GSI1": 2}, "delete + put")
        left = {k: v for k, v in base.items() if k != "GSI1PK"}
        self.assertEqual(write_cost(base, left, ["PK", "SK"], [gsi]).indexes, {"GSI1": 1})
        self.assertEqual(write_cost(left, base, ["PK", "SK"], [gsi]).indexes, {"GSI1": 1})
        self.assertEqual(write_cost(base, base, ["PK", "SK"], [gsi, everything]).indexes, {})
        big = dict(base, blob=_s(1000))
        self.assertEqual(write_cost(None, big, ["PK", "SK"], [everything]).indexes, {"GSI2": 2},
                         "the 100-byte entry overhead counts")

    def test_index_writes_land_on_the_old_and_the_new_partition(self) -> None:
        gsi = Index("G", ("GPK", "GSK"), "ALL")
        before = {"PK": _s(3), "GPK": {"S": "A"}, "GSK": {"S": "1"}}
        moved = dict(before, GPK={"S": "B"})
        self.assertEqual(index_key_writes(before, moved, ["PK"], [gsi]), [("G", "A", 1), ("G", "B", 1)])
        sorted_only = dict(before, GSK={"S": "2"})
        self.assertEqual(index_key_writes(before, sorted_only, ["PK"], [gsi]), [("G", "A", 1), ("G", "A", 1)])
        self.assertEqual(index_key_writes(before, dict(before, x=_s(1)), ["PK"], [gsi]), [("G", "A", 1)])
        self.assertEqual(index_key_writes(before, before, ["PK"], [gsi]), [])
        self.assertEqual(sum(u for *_, u in index_key_writes(before, moved, ["PK"], [gsi])),
                         index_writes(before, moved, ["PK"], [gsi])["G"])

    def test_include_projects_named_attributes_only(self) -> None:
        gsi = Index("G", ("GPK",), "INCLUDE", ("shown",))
        before = {"PK": _s(3), "GPK": _s(3), "shown": _s(3), "hidden": _s(3)}
        self.assertEqual(write_cost(before, dict(before, hidden=_s(4)), ["PK"], [gsi]).indexes, {})
        self.assertEqual(write_cost(before, dict(before, shown=_s(4)), ["PK"], [gsi]).indexes, {"G": 1})

    def test_reads_round_per_4kb_and_halve_when_eventually_consistent(self) -> None:
        self.assertEqual(read_units(0, True), 1.0, "a miss still bills one unit")
        self.assertEqual(read_units(4096, True), 1.0)
        self.assertEqual(read_units(4097, True), 2.0)
        self.assertEqual(read_units(4097, False), 1.0)
        self.assertEqual(read_units(100, True, transactional=True), 2.0)
        self.assertEqual(query_cost([{"PK": _s(2998)}, {"PK": _s(2998)}], True), 2.0, "rounded once per query")


if __name__ == "__main__":
    unittest.main()
