#!/usr/bin/env python3
"""Creates the local table, queues, event buses and buckets from infra/template.yaml.

Run (against local/emulator.py or any DynamoDB + SQS endpoint):
  .venv/bin/python local/bootstrap.py --endpoint http://127.0.0.1:4599 \
      --table fantooo-local --queue-prefix fantooo-local
  .venv/bin/python local/bootstrap.py --check          # print the plan, touch nothing
  .venv/bin/python local/bootstrap.py --print-routes   # HTTP API routes of the template
  .venv/bin/python local/bootstrap.py --print-schedules  # {job: seconds} of its Schedule events

The definitions come from the template itself, so the local stack cannot drift
from what is deployed: the one AWS::DynamoDB::Table resource gives the keys,
indexes, billing mode and TTL; every AWS::SQS::Queue gives a queue named
<prefix>-<kebab-case logical id without "Queue"> (AssignmentQueue ->
<prefix>-assignment, AssignmentDLQ -> <prefix>-assignment-dlq) with its
attributes, and a RedrivePolicy's deadLetterTargetArn (!GetAtt X.Arn) resolves to
the local queue made from X; every AWS::Events::EventBus gives a bus named
<prefix>-<kebab-case logical id without "EventBus">-bus (EventBus -> <prefix>-bus,
AnalyticsEventBus -> <prefix>-analytics-bus); every AWS::S3::Bucket gives a bucket
named <prefix>-<kebab-case logical id without "Bucket"> (MediaBucket ->
<prefix>-media) with its CORS rules and its NotificationConfiguration's
QueueConfigurations, whose Queue (!GetAtt X.Arn) resolves to the local queue made
from X (the emulator then sends the bucket's events, after one s3:TestEvent, to
that queue). local/check_infra.py checks the result.

Local only, so tests can observe published events: an SQS queue
<prefix>-events-tap, and on each bus a rule <bus name>-tap matching every event
({"source": [{"prefix": ""}]}) that targets it. The tap is not in the template
(nothing consumes it on AWS); --no-events-tap leaves it out. Each delivered
message is the EventBridge envelope as JSON ({"id", "detail-type", "source",
"time", "detail", ...}).

Idempotent: an existing table, queue, bus or rule is kept (a queue's attributes
and the tap rule and target are re-applied; an index of the template that the
existing table lacks is added with UpdateTable).
Prints one JSON line on stdout:
  {"table": ..., "assignment_queue_url": ..., "assignment_dlq_url": ...,
   "event_bus_name": ..., "events_tap_queue_url": ..., "media_bucket": ...,
   "media_public_url": ..., ...}
(one "<snake_case logical id>_url" key per queue, one "<snake_case logical id>_name"
key per event bus, one "<snake_case logical id>" key per bucket with its name and
one "<snake_case logical id without Bucket>_public_url" key with the base URL its
objects are served from: <endpoint>/<bucket>, path-style).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = ROOT / "infra" / "template.yaml"
REGION = "af-south-1"

# ----------------------------------------------------------------------- template


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short tags (!Ref, !Sub, !GetAtt, ...).

    A tag becomes its long form: !Ref X -> {"Ref": X}, !GetAtt A.B -> {"Fn::GetAtt": "A.B"},
    !Sub s -> {"Fn::Sub": s}, !Condition c -> {"Condition": c}; the tag's node is
    read as it stands (scalar, list or mapping).
    """


def _cfn_tag(loader: CfnLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path | str = DEFAULT_TEMPLATE) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        doc = yaml.load(fh, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(doc, dict) or "Resources" not in doc:
        raise SystemExit(f"{path}: not a CloudFormation template (no Resources)")
    return doc


def resources_of_type(template: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: res
        for logical_id, res in template["Resources"].items()
        if isinstance(res, dict) and res.get("Type") == type_name
    }


def _is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and (
        next(iter(value)).startswith("Fn::") or next(iter(value)) in ("Ref", "Condition"))


def _literal(value: Any, where: str) -> Any:
    """Returns value if it holds no intrinsic function, else fails with a clear message."""
    if _is_intrinsic(value):
        raise SystemExit(f"{where}: {json.dumps(value)} is computed by CloudFormation; "
                         "the local bootstrap needs a literal value here")
    if isinstance(value, dict):
        return {k: _literal(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


_INDEX_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput",
               "OnDemandThroughput")


def table_spec(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The (logical id, normalised definition) of the template's one DynamoDB table.

    The definition uses the DynamoDB API's shapes: AttributeDefinitions, KeySchema,
    BillingMode, GlobalSecondaryIndexes, LocalSecondaryIndexes, StreamSpecification,
    plus TimeToLive {AttributeName, Enabled}.
    """
    tables = resources_of_type(template, "AWS::DynamoDB::Table")
    if len(tables) != 1:
        raise SystemExit(f"expected one AWS::DynamoDB::Table in the template, found {sorted(tables)}")
    logical_id, res = next(iter(tables.items()))
    props = res.get("Properties") or {}
    where = f"Resources.{logical_id}.Properties"
    spec: dict[str, Any] = {
        "AttributeDefinitions": _literal(props["AttributeDefinitions"], f"{where}.AttributeDefinitions"),
        "KeySchema": _literal(props["KeySchema"], f"{where}.KeySchema"),
        "BillingMode": _literal(props.get("BillingMode", "PROVISIONED"), f"{where}.BillingMode"),
    }
    if spec["BillingMode"] == "PROVISIONED":
        spec["ProvisionedThroughput"] = _literal(props["ProvisionedThroughput"],
                                                 f"{where}.ProvisionedThroughput")
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(kind):
            spec[kind] = [
                {k: v for k, v in _literal(ix, f"{where}.{kind}[{i}]").items() if k in _INDEX_KEYS}
                for i, ix in enumerate(props[kind])
            ]
    stream = props.get("StreamSpecification")
    if stream:
        spec["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": _literal(stream["StreamViewType"], f"{where}.StreamSpecification"),
        }
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        ttl = _literal(ttl, f"{where}.TimeToLiveSpecification")
        spec["TimeToLive"] = {"AttributeName": ttl["AttributeName"],
                              "Enabled": bool(ttl.get("Enabled", False))}
    return logical_id, spec


def queue_suffix(logical_id: str) -> str:
    """AssignmentQueue -> assignment, AssignmentDLQ -> assignment-dlq, PaymentEventsQueue -> payment-events."""
    base = logical_id[:-len("Queue")] if logical_id.endswith("Queue") and logical_id != "Queue" else logical_id
    return kebab(base)


def kebab(name: str) -> str:
    """PaymentEvents -> payment-events, AssignmentDLQ -> assignment-dlq."""
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|[A-Z]+|\d+", name)
    return "-".join(w.lower() for w in words) or name.lower()


def output_key(logical_id: str, suffix: str = "_url") -> str:
    """AssignmentQueue -> assignment_queue_url, AssignmentDLQ -> assignment_dlq_url;
    with suffix "_name": EventBus -> event_bus_name."""
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|[A-Z]+|\d+", logical_id)
    return "_".join(w.lower() for w in words) + suffix


def bus_name(logical_id: str, prefix: str) -> str:
    """EventBus -> <prefix>-bus, AnalyticsEventBus -> <prefix>-analytics-bus."""
    base = logical_id[:-len("EventBus")] if logical_id.endswith("EventBus") else logical_id
    if not base:
        return f"{prefix}-bus"
    return f"{prefix}-{kebab(base)}-bus"


def event_bus_specs(template: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """One entry per AWS::Events::EventBus: logical id, local name, output key.

    The template's Name (e.g. !Sub "fantooo-${Stage}") is not used: locally the
    name follows the prefix, like the queues.
    """
    return [{"logical_id": logical_id, "name": bus_name(logical_id, prefix),
             "output_key": output_key(logical_id, "_name")}
            for logical_id in resources_of_type(template, "AWS::Events::EventBus")]


def bucket_specs(template: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """One entry per AWS::S3::Bucket: logical id, local name, CORS rules and queue
    notifications (S3 API shapes), output keys.

    The template's BucketName (e.g. !Sub "${AWS::StackName}-media-...") is not used:
    locally the name follows the prefix, like the queues.
    """
    specs = []
    for logical_id, res in resources_of_type(template, "AWS::S3::Bucket").items():
        props = res.get("Properties") or {}
        where = f"Resources.{logical_id}.Properties"
        base = logical_id[:-len("Bucket")] if logical_id.endswith("Bucket") and logical_id != "Bucket" else logical_id
        cors = [
            {**{k: _literal(rule[k], f"{where}.CorsConfiguration") for k in
                ("AllowedMethods", "AllowedOrigins", "AllowedHeaders", "ExposedHeaders") if k in rule},
             **({"MaxAgeSeconds": int(_literal(rule["MaxAge"], f"{where}.CorsConfiguration"))}
                if "MaxAge" in rule else {})}
            for rule in (props.get("CorsConfiguration") or {}).get("CorsRules") or []
        ]
        notifications = []
        for i, qc in enumerate((props.get("NotificationConfiguration") or {}).get("QueueConfigurations") or []):
            target = _getatt_target(qc.get("Queue"))
            if not target or target[1] != "Arn":
                raise SystemExit(f"{where}.NotificationConfiguration.QueueConfigurations[{i}].Queue must be "
                                 "!GetAtt <queue>.Arn of a queue in this template")
            rules = ((qc.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
            notifications.append({
                "queue_logical_id": target[0],
                "events": [_literal(qc["Event"], f"{where}.NotificationConfiguration")],
                "filter_rules": [{"Name": _literal(r["Name"], where), "Value": _literal(r["Value"], where)}
                                 for r in rules],
            })
        specs.append({"logical_id": logical_id, "name": f"{prefix}-{kebab(base)}", "cors": cors,
                      "notifications": notifications, "output_key": output_key(logical_id, ""),
                      "public_url_key": output_key(base, "_public_url")})
    return specs


TAP_QUEUE_SUFFIX = "events-tap"
TAP_OUTPUT_KEY = "events_tap_queue_url"
# Matches every event: each event has a string "source", and every string starts with "".
TAP_PATTERN = {"source": [{"prefix": ""}]}


# SQS queue properties in CloudFormation that are also SetQueueAttributes names.
_PLAIN_QUEUE_ATTRS = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod",
                      "ReceiveMessageWaitTimeSeconds", "VisibilityTimeout")


def _getatt_target(value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        if isinstance(target, str):
            logical, _, attr = target.partition(".")
        else:
            logical, attr = target[0], target[1]
        return logical, attr
    return None


def queue_specs(template: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """One entry per AWS::SQS::Queue: logical id, local name, attributes, redrive."""
    specs = []
    for logical_id, res in resources_of_type(template, "AWS::SQS::Queue").items():
        props = res.get("Properties") or {}
        where = f"Resources.{logical_id}.Properties"
        fifo = bool(_literal(props.get("FifoQueue", False), f"{where}.FifoQueue"))
        name = f"{prefix}-{queue_suffix(logical_id)}" + (".fifo" if fifo else "")
        attrs = {k: str(_literal(props[k], f"{where}.{k}")) for k in _PLAIN_QUEUE_ATTRS if k in props}
        if fifo:
            attrs["FifoQueue"] = "true"
            if props.get("ContentBasedDeduplication"):
                attrs["ContentBasedDeduplication"] = "true"
        redrive = None
        if props.get("RedrivePolicy"):
            rp = props["RedrivePolicy"]
            if isinstance(rp, str):
                rp = json.loads(rp)
            target = _getatt_target(rp.get("deadLetterTargetArn"))
            if not target or target[1] != "Arn":
                raise SystemExit(f"{where}.RedrivePolicy.deadLetterTargetArn must be "
                                 "!GetAtt <queue>.Arn of a queue in this template")
            redrive = {"dead_letter_logical_id": target[0],
                       "maxReceiveCount": int(_literal(rp["maxReceiveCount"], f"{where}.RedrivePolicy"))}
        specs.append({"logical_id": logical_id, "name": name, "attributes": attrs,
                      "redrive": redrive, "output_key": output_key(logical_id)})
    known = {s["logical_id"] for s in specs}
    for s in specs:
        if s["redrive"] and s["redrive"]["dead_letter_logical_id"] not in known:
            raise SystemExit(f"{s['logical_id']}: dead-letter queue "
                             f"{s['redrive']['dead_letter_logical_id']} is not an AWS::SQS::Queue here")
    return specs


def http_routes(template: dict[str, Any]) -> list[dict[str, str]]:
    """Every HttpApi event: method, path, function logical id and its cargo binary."""
    routes = []
    for logical_id, res in resources_of_type(template, "AWS::Serverless::Function").items():
        binary = ((res.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        for event in ((res.get("Properties") or {}).get("Events") or {}).values():
            if event.get("Type") == "HttpApi":
                props = event.get("Properties") or {}
                routes.append({"method": str(props.get("Method", "ANY")).upper(),
                               "path": props.get("Path", "$default"),
                               "function": logical_id, "binary": binary})
    return sorted(routes, key=lambda r: (r["path"], r["method"]))


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECS = {"minute": 60, "hour": 3600, "day": 86400}


def schedules(template: dict[str, Any]) -> dict[str, int]:
    """Every Schedule event as {job: seconds}: the job is the event Input's "job"
    (the assignment jobs), else the function's cargo binary (reconcile, ...)."""
    out: dict[str, int] = {}
    for logical_id, res in resources_of_type(template, "AWS::Serverless::Function").items():
        binary = ((res.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        for name, event in ((res.get("Properties") or {}).get("Events") or {}).items():
            if event.get("Type") != "Schedule":
                continue
            props = event.get("Properties") or {}
            m = _RATE.match(str(props.get("Schedule", "")))
            if not m:
                raise SystemExit(f"{logical_id}.{name}: only rate(N unit) schedules are supported locally")
            job = json.loads(props.get("Input") or "{}").get("job") or binary
            out[job] = int(m.group(1)) * _UNIT_SECS[m.group(2).rstrip("s")]
    return dict(sorted(out.items()))


# ----------------------------------------------------------------------- AWS


def client(service: str, endpoint: str, region: str = REGION) -> Any:
    import boto3
    from botocore.config import Config

    # Buckets by path (<endpoint>/<bucket>): the emulator has no DNS for
    # <bucket>.<host>, and the API server addresses them the same way.
    extra = {"s3": {"addressing_style": "path"}} if service == "s3" else {}
    return boto3.client(
        service, endpoint_url=endpoint, region_name=region,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        config=Config(retries={"mode": "standard", "total_max_attempts": 5}, **extra),
    )


def wait_for_endpoint(endpoint: str, timeout: float) -> None:
    parsed = urllib.parse.urlparse(endpoint)
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError as err:
            if time.monotonic() >= deadline:
                raise SystemExit(f"endpoint {endpoint} did not answer within {timeout:.0f} s: {err}")
            time.sleep(0.2)


def _wait_for_index(ddb: Any, table: str, index: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        desc = ddb.describe_table(TableName=table)["Table"]
        status = next((ix.get("IndexStatus") for ix in desc.get("GlobalSecondaryIndexes") or []
                       if ix["IndexName"] == index), None)
        if status in (None, "ACTIVE"):  # None: emulators that omit IndexStatus
            return
        if time.monotonic() >= deadline:
            raise SystemExit(f"index {index} of {table} is still {status} after {timeout:.0f} s")
        time.sleep(1)


def add_missing_indexes(ddb: Any, name: str, spec: dict[str, Any]) -> list[str]:
    """Adds the template's GSIs that an existing table lacks (one UpdateTable each,
    as DynamoDB allows one index creation per call). Returns their names.

    A GSI that exists with other keys is left alone: local/check_infra.py reports
    it (drop the local table to rebuild it).
    """
    desc = ddb.describe_table(TableName=name)["Table"]
    have = {ix["IndexName"] for ix in desc.get("GlobalSecondaryIndexes") or []}
    added = []
    for ix in spec.get("GlobalSecondaryIndexes") or []:
        if ix["IndexName"] in have:
            continue
        create = {k: v for k, v in ix.items()
                  if spec["BillingMode"] == "PROVISIONED" or k != "ProvisionedThroughput"}
        ddb.update_table(TableName=name, AttributeDefinitions=spec["AttributeDefinitions"],
                         GlobalSecondaryIndexUpdates=[{"Create": create}])
        _wait_for_index(ddb, name, ix["IndexName"])
        added.append(ix["IndexName"])
    return added


def ensure_table(ddb: Any, name: str, spec: dict[str, Any]) -> str:
    """Creates the table unless it exists; adds missing GSIs; enables TTL.

    Returns "created", "exists" or "updated" (an index was added).
    """
    create = {k: v for k, v in spec.items() if k != "TimeToLive"}
    status = "created"
    try:
        ddb.create_table(TableName=name, **create)
    except ddb.exceptions.ResourceInUseException:
        status = "exists"
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    if status == "exists" and add_missing_indexes(ddb, name, spec):
        status = "updated"
    ttl = spec.get("TimeToLive")
    if ttl and ttl["Enabled"]:
        current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if (current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING")
                or current.get("AttributeName") != ttl["AttributeName"]):
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    return status


def ensure_queues(sqs: Any, specs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    created: dict[str, dict[str, str]] = {}
    for s in specs:  # pass 1: every queue exists (CreateQueue with only the name is idempotent)
        fifo_attrs = {k: v for k, v in s["attributes"].items() if k == "FifoQueue"}
        url = sqs.create_queue(QueueName=s["name"], Attributes=fifo_attrs)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        created[s["logical_id"]] = {"name": s["name"], "url": url, "arn": arn}
    for s in specs:  # pass 2: attributes, with dead-letter ARNs now known
        attrs = {k: v for k, v in s["attributes"].items() if k != "FifoQueue"}
        if s["redrive"]:
            attrs["RedrivePolicy"] = json.dumps({
                "deadLetterTargetArn": created[s["redrive"]["dead_letter_logical_id"]]["arn"],
                "maxReceiveCount": s["redrive"]["maxReceiveCount"],
            })
        if attrs:
            sqs.set_queue_attributes(QueueUrl=created[s["logical_id"]]["url"], Attributes=attrs)
    return created


def ensure_event_buses(events: Any, specs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Creates each bus unless it exists. Returns logical id -> {name, arn}."""
    created: dict[str, dict[str, str]] = {}
    for s in specs:
        try:
            arn = events.create_event_bus(Name=s["name"])["EventBusArn"]
        except events.exceptions.ResourceAlreadyExistsException:
            arn = events.describe_event_bus(Name=s["name"])["Arn"]
        created[s["logical_id"]] = {"name": s["name"], "arn": arn}
    return created


def ensure_buckets(s3: Any, specs: list[dict[str, Any]], queues: dict[str, dict[str, str]],
                   region: str) -> dict[str, str]:
    """Creates each bucket unless it exists, and (re)applies its CORS rules and
    queue notifications (both calls overwrite, so re-running is harmless; each
    notification setup makes the emulator send one s3:TestEvent). Returns
    logical id -> bucket name."""
    created: dict[str, str] = {}
    for s in specs:
        create: dict[str, Any] = {"Bucket": s["name"]}
        if region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            s3.create_bucket(**create)
        except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
            pass
        if s["cors"]:
            s3.put_bucket_cors(Bucket=s["name"], CORSConfiguration={"CORSRules": s["cors"]})
        configs = []
        for n in s["notifications"]:
            if n["queue_logical_id"] not in queues:
                raise SystemExit(f"{s['logical_id']}: notification queue {n['queue_logical_id']} "
                                 "is not an AWS::SQS::Queue here")
            config: dict[str, Any] = {"QueueArn": queues[n["queue_logical_id"]]["arn"], "Events": n["events"]}
            if n["filter_rules"]:
                config["Filter"] = {"Key": {"FilterRules": n["filter_rules"]}}
            configs.append(config)
        if configs:
            s3.put_bucket_notification_configuration(
                Bucket=s["name"], NotificationConfiguration={"QueueConfigurations": configs})
        created[s["logical_id"]] = s["name"]
    return created


def ensure_events_tap(sqs: Any, events: Any, prefix: str,
                      buses: dict[str, dict[str, str]]) -> str:
    """The local tap: queue <prefix>-events-tap, and on every bus a rule matching
    all events that targets it (PutRule and PutTargets overwrite, so re-running is
    harmless). Returns the queue URL."""
    url = sqs.create_queue(QueueName=f"{prefix}-{TAP_QUEUE_SUFFIX}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # What real EventBridge would need to deliver (the emulator does not check it).
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                       "Action": "sqs:SendMessage", "Resource": arn}],
    })})
    for bus in buses.values():
        rule = f"{bus['name']}-tap"
        events.put_rule(Name=rule, EventBusName=bus["name"], State="ENABLED",
                        EventPattern=json.dumps(TAP_PATTERN),
                        Description="Local only: copies every event to the events tap queue")
        result = events.put_targets(Rule=rule, EventBusName=bus["name"],
                                    Targets=[{"Id": "events-tap", "Arn": arn}])
        if result.get("FailedEntryCount"):
            raise SystemExit(f"put_targets on {rule} failed: {result['FailedEntries']}")
    return url


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Create the local table, queues, event buses and buckets from infra/template.yaml.")
    p.add_argument("--endpoint", default=os.environ.get("FANTOOO_AWS_ENDPOINT", "http://127.0.0.1:4599"))
    p.add_argument("--table", default="fantooo-local")
    p.add_argument("--queue-prefix", default="fantooo-local")
    p.add_argument("--template", default=str(DEFAULT_TEMPLATE))
    p.add_argument("--region", default=REGION)
    p.add_argument("--wait", type=float, default=15.0,
                   help="seconds to wait for the endpoint to accept connections")
    p.add_argument("--no-events-tap", action="store_true",
                   help="no <prefix>-events-tap queue and no tap rules on the buses")
    p.add_argument("--check", action="store_true", help="print what would be created; call nothing")
    p.add_argument("--print-routes", action="store_true",
                   help="print the template's HTTP API routes as JSON (method, path, function, binary)")
    p.add_argument("--print-schedules", action="store_true",
                   help="print the template's schedules as one JSON line {job: seconds}")
    args = p.parse_args(argv)

    template = load_template(args.template)
    if args.print_routes:
        print(json.dumps(http_routes(template), indent=1))
        return 0
    if args.print_schedules:
        print(json.dumps(schedules(template)))
        return 0
    table_logical_id, spec = table_spec(template)
    queues = queue_specs(template, args.queue_prefix)
    buses = event_bus_specs(template, args.queue_prefix)
    buckets = bucket_specs(template, args.queue_prefix)
    tap = not args.no_events_tap and bool(buses)

    if args.check:
        plan = {
            "template": args.template,
            "endpoint": args.endpoint,
            "table": {"logical_id": table_logical_id, "name": args.table, **spec},
            "queues": [
                {**{k: v for k, v in q.items() if k != "redrive"},
                 "redrive": q["redrive"] and {
                     "deadLetterTarget": next(x["name"] for x in queues
                                              if x["logical_id"] == q["redrive"]["dead_letter_logical_id"]),
                     "maxReceiveCount": q["redrive"]["maxReceiveCount"]}}
                for q in queues
            ],
            "event_buses": buses,
            "buckets": buckets,
            "events_tap": tap and {
                "queue": f"{args.queue_prefix}-{TAP_QUEUE_SUFFIX}",
                "rules": [f"{b['name']}-tap" for b in buses],
                "event_pattern": TAP_PATTERN,
            },
        }
        print(json.dumps(plan, indent=2))
        return 0

    wait_for_endpoint(args.endpoint, args.wait)
    table_status = ensure_table(client("dynamodb", args.endpoint, args.region), args.table, spec)
    sqs = client("sqs", args.endpoint, args.region)
    created = ensure_queues(sqs, queues)
    events = client("events", args.endpoint, args.region)
    created_buses = ensure_event_buses(events, buses)
    tap_url = ensure_events_tap(sqs, events, args.queue_prefix, created_buses) if tap else None
    created_buckets = ensure_buckets(client("s3", args.endpoint, args.region), buckets, created, args.region)

    out: dict[str, Any] = {"table": args.table}
    for q in queues:
        out[q["output_key"]] = created[q["logical_id"]]["url"]
    for b in buses:
        out[b["output_key"]] = created_buses[b["logical_id"]]["name"]
    if tap_url:
        out[TAP_OUTPUT_KEY] = tap_url
    for b in buckets:
        out[b["output_key"]] = created_buckets[b["logical_id"]]
        out[b["public_url_key"]] = f"{args.endpoint.rstrip('/')}/{created_buckets[b['logical_id']]}"
    out["endpoint"] = args.endpoint
    out["region"] = args.region
    out["table_status"] = table_status
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
