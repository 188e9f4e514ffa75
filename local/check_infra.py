#!/usr/bin/env python3
"""Checks that the local table, queues and event buses equal their definitions in infra/template.yaml.

Run after local/bootstrap.py:
  .venv/bin/python local/check_infra.py --endpoint http://127.0.0.1:4599 \
      --table fantooo-local --queue-prefix fantooo-local

Compares, template vs describe_table / describe_time_to_live / get_queue_attributes:
key schema, attribute definitions, billing mode, every GSI and LSI (keys and
projection; GSI1 to GSI4 today), TTL attribute and status, stream (none unless
the template has one), for each AWS::SQS::Queue its attributes and redrive
target, and that each AWS::Events::EventBus exists under its local name
(bootstrap.bus_name: EventBus -> <prefix>-bus), and that each AWS::S3::Bucket
exists under its local name (MediaBucket -> <prefix>-media) with its queue
notifications (events, key filter, target queue). The local-only events tap is not
checked. Prints "ok ..." and exits 0, or lists every mismatch and exits 1 (2 if
only something is missing: the table, a queue or a bus). --skip-queues and
--skip-buses and --skip-buckets leave those out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bootstrap  # noqa: E402


def _keys(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    # Order matters: HASH first, then RANGE.
    return [(k["AttributeName"], k["KeyType"]) for k in schema]


def _projection(p: dict[str, Any] | None) -> tuple[str, tuple[str, ...]]:
    p = p or {}
    return p.get("ProjectionType", "ALL"), tuple(sorted(p.get("NonKeyAttributes") or []))


def _indexes(ixs: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {ix["IndexName"]: {"keys": _keys(ix["KeySchema"]), "projection": _projection(ix.get("Projection"))}
            for ix in ixs or []}


def compare_table(spec: dict[str, Any], desc: dict[str, Any], ttl: dict[str, Any]) -> list[str]:
    problems: list[str] = []

    def diff(what: str, want: Any, got: Any) -> None:
        if want != got:
            problems.append(f"{what}: template has {want!r}, local table has {got!r}")

    diff("KeySchema", _keys(spec["KeySchema"]), _keys(desc["KeySchema"]))
    diff("AttributeDefinitions",
         sorted((a["AttributeName"], a["AttributeType"]) for a in spec["AttributeDefinitions"]),
         sorted((a["AttributeName"], a["AttributeType"]) for a in desc["AttributeDefinitions"]))
    got_billing = (desc.get("BillingModeSummary") or {}).get("BillingMode")
    if got_billing is not None:
        diff("BillingMode", spec["BillingMode"], got_billing)
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        want, got = _indexes(spec.get(kind)), _indexes(desc.get(kind))
        for name in sorted(set(want) | set(got)):
            if name not in got:
                problems.append(f"{kind}: {name} is in the template but not in the local table")
            elif name not in want:
                problems.append(f"{kind}: {name} is in the local table but not in the template")
            else:
                diff(f"{kind}.{name}.KeySchema", want[name]["keys"], got[name]["keys"])
                diff(f"{kind}.{name}.Projection", want[name]["projection"], got[name]["projection"])
    want_stream = (spec.get("StreamSpecification") or {}).get("StreamViewType")
    got_stream_spec = desc.get("StreamSpecification") or {}
    got_stream = got_stream_spec.get("StreamViewType") if got_stream_spec.get("StreamEnabled") else None
    diff("Stream", want_stream, got_stream)
    want_ttl = spec.get("TimeToLive") or {"Enabled": False}
    got_ttl_on = ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
    diff("TimeToLive.Enabled", want_ttl["Enabled"], got_ttl_on)
    if want_ttl["Enabled"]:
        diff("TimeToLive.AttributeName", want_ttl["AttributeName"], ttl.get("AttributeName"))
    return problems


def compare_queues(sqs: Any, specs: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    missing: list[str] = []
    arns: dict[str, str] = {}
    got_attrs: dict[str, dict[str, str]] = {}
    for s in specs:
        try:
            url = sqs.get_queue_url(QueueName=s["name"])["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            missing.append(f"queue {s['name']} ({s['logical_id']}) does not exist")
            continue
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        got_attrs[s["logical_id"]] = attrs
        arns[s["logical_id"]] = attrs["QueueArn"]
    for s in specs:
        attrs = got_attrs.get(s["logical_id"])
        if attrs is None:
            continue
        for k, v in s["attributes"].items():
            if str(attrs.get(k)).lower() != str(v).lower():
                problems.append(f"queue {s['name']}.{k}: template has {v!r}, local queue has {attrs.get(k)!r}")
        got_rp = json.loads(attrs["RedrivePolicy"]) if attrs.get("RedrivePolicy") else None
        if s["redrive"] is None:
            if got_rp:
                problems.append(f"queue {s['name']}: local queue has a RedrivePolicy, the template none")
            continue
        if not got_rp:
            problems.append(f"queue {s['name']}: template has a RedrivePolicy, the local queue none")
            continue
        want_arn = arns.get(s["redrive"]["dead_letter_logical_id"])
        if got_rp.get("deadLetterTargetArn") != want_arn:
            problems.append(f"queue {s['name']}.RedrivePolicy.deadLetterTargetArn: want {want_arn!r}, "
                            f"got {got_rp.get('deadLetterTargetArn')!r}")
        if int(got_rp.get("maxReceiveCount", -1)) != s["redrive"]["maxReceiveCount"]:
            problems.append(f"queue {s['name']}.RedrivePolicy.maxReceiveCount: template has "
                            f"{s['redrive']['maxReceiveCount']}, local queue has {got_rp.get('maxReceiveCount')}")
    return problems, missing


def missing_buses(events: Any, specs: list[dict[str, Any]]) -> list[str]:
    missing: list[str] = []
    for s in specs:
        try:
            events.describe_event_bus(Name=s["name"])
        except events.exceptions.ResourceNotFoundException:
            missing.append(f"event bus {s['name']} ({s['logical_id']}) does not exist")
    return missing


def compare_buckets(s3: Any, sqs: Any, specs: list[dict[str, Any]],
                    queue_specs: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    missing: list[str] = []
    names = {q["logical_id"]: q["name"] for q in queue_specs}
    for s in specs:
        try:
            s3.head_bucket(Bucket=s["name"])
        except Exception:  # noqa: BLE001 - botocore raises a ClientError with a bare 404
            missing.append(f"bucket {s['name']} ({s['logical_id']}) does not exist")
            continue
        got = s3.get_bucket_notification_configuration(Bucket=s["name"]).get("QueueConfigurations") or []

        def shape(arn: str, events: list[str], rules: list[dict[str, str]]) -> tuple[Any, ...]:
            return (arn, tuple(sorted(events)), tuple(sorted((r["Name"].lower(), r["Value"]) for r in rules)))

        want = []
        for n in s["notifications"]:
            url = sqs.get_queue_url(QueueName=names[n["queue_logical_id"]])["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            want.append(shape(arn, n["events"], n["filter_rules"]))
        have = [shape(c["QueueArn"], c["Events"], ((c.get("Filter") or {}).get("Key") or {}).get("FilterRules") or [])
                for c in got]
        if sorted(want) != sorted(have):
            problems.append(f"bucket {s['name']}: template notifies {sorted(want)}, local bucket {sorted(have)}")
    return problems, missing


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Check the local table, queues and event buses against infra/template.yaml.")
    p.add_argument("--endpoint", default=os.environ.get("FANTOOO_AWS_ENDPOINT", "http://127.0.0.1:4599"))
    p.add_argument("--table", default="fantooo-local")
    p.add_argument("--queue-prefix", default="fantooo-local")
    p.add_argument("--template", default=str(bootstrap.DEFAULT_TEMPLATE))
    p.add_argument("--region", default=bootstrap.REGION)
    p.add_argument("--skip-queues", action="store_true")
    p.add_argument("--skip-buses", action="store_true")
    p.add_argument("--skip-buckets", action="store_true")
    args = p.parse_args(argv)

    template = bootstrap.load_template(args.template)
    _, spec = bootstrap.table_spec(template)
    ddb = bootstrap.client("dynamodb", args.endpoint, args.region)
    try:
        desc = ddb.describe_table(TableName=args.table)["Table"]
    except ddb.exceptions.ResourceNotFoundException:
        print(f"check_infra: table {args.table} does not exist at {args.endpoint} "
              "(run local/bootstrap.py first)", file=sys.stderr)
        return 2
    ttl = ddb.describe_time_to_live(TableName=args.table)["TimeToLiveDescription"]
    problems = compare_table(spec, desc, ttl)
    missing: list[str] = []
    checked = [f"table {args.table}"]
    if not args.skip_queues:
        specs = bootstrap.queue_specs(template, args.queue_prefix)
        qp, missing = compare_queues(bootstrap.client("sqs", args.endpoint, args.region), specs)
        problems += qp
        checked += [f"queue {s['name']}" for s in specs]
    if not args.skip_buses:
        bus_specs = bootstrap.event_bus_specs(template, args.queue_prefix)
        missing += missing_buses(bootstrap.client("events", args.endpoint, args.region), bus_specs)
        checked += [f"event bus {s['name']}" for s in bus_specs]
    if not args.skip_buckets:
        bucket_specs = bootstrap.bucket_specs(template, args.queue_prefix)
        bp, bm = compare_buckets(bootstrap.client("s3", args.endpoint, args.region),
                                 bootstrap.client("sqs", args.endpoint, args.region), bucket_specs,
                                 bootstrap.queue_specs(template, args.queue_prefix))
        problems += bp
        missing += bm
        checked += [f"bucket {s['name']}" for s in bucket_specs]

    if problems or missing:
        print(f"check_infra: the local stack differs from {args.template}:", file=sys.stderr)
        for line in missing + problems:
            print(f"  - {line}", file=sys.stderr)
        return 2 if missing and not problems else 1
    print(f"ok: {', '.join(checked)} match {os.path.relpath(args.template)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
