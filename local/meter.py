"""Bills each DynamoDB request the emulator serves as DynamoDB would (local/capacity.py).

The emulator calls `Meter.before` with the request before moto runs it (still
under the DynamoDB lock) and `Meter.after` with moto's answer: writes are billed
from the items before and after (read straight from moto's tables), so an update,
a condition that failed and every index the item is projected into all count.

Reads: GetItem and BatchGetItem bill the stored items (a projection does not make
them cheaper, as on DynamoDB). Query and Scan bill the items they return, so a
filter or a projection makes their figure low; the capacity report says so.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from typing import Any

import capacity

ACCOUNT = "123456789012"
WRITE_ONE = {"PutItem", "UpdateItem", "DeleteItem"}
_REGION = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/")
# Per-request costs kept for the report (the newest; memory stays bounded).
RECENT = 2_000


class Meter:
    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._mutex:
            self.by_operation: dict[str, dict[str, Any]] = {}
            self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)

    # ------------------------------------------------------------------ moto

    @staticmethod
    def _backend(environ: dict[str, Any]) -> Any:
        from moto.dynamodb.models import dynamodb_backends

        m = _REGION.search(environ.get("HTTP_AUTHORIZATION", ""))
        region = m.group(1) if m else environ.get("AWS_DEFAULT_REGION", "us-east-1")
        return dynamodb_backends[ACCOUNT][region]

    @staticmethod
    def _table(backend: Any, name: str | None) -> Any:
        return backend.tables.get(name) if name else None

    @staticmethod
    def _item(table: Any, key: dict[str, Any]) -> dict[str, Any] | None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        try:
            hv = DynamoType(key[table.hash_key_attr])
            if table.range_key_attr is None:
                item = table.items.get(hv)
            else:
                by_hash = table.items.get(hv)
                item = by_hash.get(DynamoType(key[table.range_key_attr])) if by_hash else None
        except (KeyError, TypeError, AttributeError, ValueError):
            return None
        return item.to_json()["Attributes"] if item is not None else None

    @staticmethod
    def _shape(table: Any) -> tuple[list[str], list[capacity.Index]]:
        keys = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        indexes = [capacity.Index.from_description(g.describe()) for g in table.global_indexes]
        return keys, indexes

    # ------------------------------------------------------------ the calls

    def before(self, environ: dict[str, Any], operation: str, body: bytes) -> dict[str, Any] | None:
        """What the write will touch, as it is now; None for a call not metered."""
        if operation not in WRITE_ONE and operation != "TransactWriteItems":
            return {"operation": operation, "request": _json(body), "backend": None, "writes": []}
        request = _json(body)
        try:
            backend = self._backend(environ)
        except Exception:  # noqa: BLE001 - metering never breaks a request
            return None
        writes = []
        actions: list[tuple[str, dict[str, Any], bool]] = []
        if operation == "TransactWriteItems":
            for element in request.get("TransactItems") or []:
                for kind, op in (element or {}).items():
                    actions.append((kind, op or {}, True))
        else:
            kind = {"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete"}[operation]
            actions.append((kind, request, False))
        for kind, op, transactional in actions:
            table = self._table(backend, op.get("TableName"))
            if table is None:
                continue
            key_source = op.get("Item") if kind == "Put" else op.get("Key")
            if not isinstance(key_source, dict):
                continue
            writes.append({"kind": kind, "table": table, "key": key_source, "transactional": transactional,
                           "before": self._item(table, key_source)})
        return {"operation": operation, "request": request, "backend": backend, "writes": writes}

    def after(self, state: dict[str, Any] | None, ok: bool, response: bytes) -> dict[str, Any] | None:
        """Bills the call; returns its cost, or None if it was not metered."""
        if state is None:
            return None
        operation = state["operation"]
        wru_table = 0
        wru_index: dict[str, int] = {}
        rru = 0.0
        # Where the units land: [where ("table" or an index), partition key, wru, rru].
        partitions: list[list[Any]] = []
        # The size of every item written, after the write (what an index entry carries).
        item_bytes: dict[str, int] = {}
        if state["writes"]:
            for w in state["writes"]:
                table = w["table"]
                keys, indexes = self._shape(table)
                after = w["before"]
                if w["kind"] == "ConditionCheck":
                    cost = capacity.condition_check_cost(w["before"])
                else:
                    after = self._item(table, w["key"]) if ok else w["before"]
                    cost = capacity.write_cost(w["before"], after, keys, indexes, w["transactional"], applied=ok)
                wru_table += cost.table
                partitions.append(["table", _plain(w["key"].get(table.hash_key_attr)), cost.table, 0.0])
                if after is not None:
                    item_bytes[_plain(w["key"].get(table.hash_key_attr)) + " " + _plain(
                        w["key"].get(table.range_key_attr))] = capacity.item_size(after)
                for name, units in cost.indexes.items():
                    wru_index[name] = wru_index.get(name, 0) + units
                if ok and w["kind"] != "ConditionCheck":
                    for name, pk, units in capacity.index_key_writes(w["before"], after, keys, indexes):
                        partitions.append([name, pk, units, 0.0])
        elif operation in ("GetItem", "BatchGetItem", "Query", "Scan"):
            rru = self._read_cost(operation, state, ok, response)
            partitions.extend(self._read_partitions(operation, state["request"], rru))
        else:
            return None
        cost = {"operation": operation, "wru": wru_table + sum(wru_index.values()), "wru_table": wru_table,
                "wru_index": wru_index, "rru": rru, "partitions": partitions, "item_bytes": item_bytes}
        with self._mutex:
            totals = self.by_operation.setdefault(
                operation, {"calls": 0, "wru": 0, "wru_table": 0, "wru_index": {}, "rru": 0.0, "partitions": {},
                            "item_bytes": {}})
            totals["item_bytes"].update(item_bytes)
            for where, pk, w_units, r_units in partitions:
                slot = totals["partitions"].setdefault(f"{where} {pk}", {"wru": 0, "rru": 0.0})
                slot["wru"] += w_units
                slot["rru"] += r_units
            totals["calls"] += 1
            totals["wru"] += cost["wru"]
            totals["wru_table"] += wru_table
            totals["rru"] += rru
            for name, units in wru_index.items():
                totals["wru_index"][name] = totals["wru_index"].get(name, 0) + units
            self.recent.append(cost)
        return cost

    def _read_cost(self, operation: str, state: dict[str, Any], ok: bool, response: bytes) -> float:
        request = state["request"]
        answer = _json(response) if ok else {}
        if operation == "GetItem":
            item = answer.get("Item")
            return capacity.read_units(capacity.item_size(item), bool(request.get("ConsistentRead")))
        if operation == "BatchGetItem":
            units = 0.0
            for name, items in (answer.get("Responses") or {}).items():
                consistent = bool(((request.get("RequestItems") or {}).get(name) or {}).get("ConsistentRead"))
                units += sum(capacity.read_units(capacity.item_size(i), consistent) for i in items)
            return units
        return capacity.query_cost(answer.get("Items") or [], bool(request.get("ConsistentRead")))

    @staticmethod
    def _read_partitions(operation: str, request: dict[str, Any], rru: float) -> list[list[Any]]:
        """Where a read's units land: the partition it queried or the keys it got
        (a batch's units are split evenly over its keys)."""
        if operation == "Query":
            pk = (request.get("ExpressionAttributeValues") or {}).get(":pk")
            return [[request.get("IndexName") or "table", _plain(pk), 0, rru]]
        if operation == "GetItem":
            key = request.get("Key") or {}
            return [["table", _plain(key.get("PK")), 0, rru]]
        if operation == "BatchGetItem":
            keys = [k for t in (request.get("RequestItems") or {}).values() for k in (t.get("Keys") or [])]
            return [["table", _plain(k.get("PK")), 0, rru / len(keys)] for k in keys] if keys else []
        return [["table", "(scan)", 0, rru]]

    def report(self) -> dict[str, Any]:
        with self._mutex:
            return {
                "by_operation": json.loads(json.dumps(self.by_operation)),
                "recent": list(self.recent),
                "note": "writes exact; Query/Scan billed from the items returned (a filter or projection reads low)",
            }


def _plain(value: Any) -> str:
    """A key value as text ({"S": "MEMBER#m_1"} -> "MEMBER#m_1")."""
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value.values())))
    return "?"


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
