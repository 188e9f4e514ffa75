#!/usr/bin/env python3
"""Creates the local table and queues from infra/template.yaml.

Run (against local/emulator.py or any DynamoDB + SQS endpoint):
  .venv/bin/python local/bootstrap.py --endpoint http://127.0.0.1:4599 \
      --table fantooo-local --queue-prefix fantooo-local
  .venv/bin/python local/bootstrap.py --check          # print the plan, touch nothing
  .venv/bin/python local/bootstrap.py --print-routes   # HTTP API routes of the template

The definitions come from the template itself, so the local stack cannot drift
from what is deployed: the one AWS::DynamoDB::Table resource gives the keys,
indexes, billing mode and TTL; every AWS::SQS::Queue gives a queue named
<prefix>-<kebab-case logical id without "Queue"> (AssignmentQueue ->
<prefix>-assignment, AssignmentDLQ -> <prefix>-assignment-dlq) with its
attributes, and a RedrivePolicy's deadLetterTargetArn (!GetAtt X.Arn) resolves to
the local queue made from X. local/check_infra.py checks the result.

Idempotent: an existing table or queue is kept (its attributes are re-applied).
Prints one JSON line on stdout:
  {"table": ..., "assignment_queue_url": ..., "assignment_dlq_url": ..., ...}
(one "<snake_case logical id>_url" key per queue).
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
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|[A-Z]+|\d+", base)
    return "-".join(w.lower() for w in words) or base.lower()


def output_key(logical_id: str) -> str:
    """AssignmentQueue -> assignment_queue_url, AssignmentDLQ -> assignment_dlq_url."""
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|[A-Z]+|\d+", logical_id)
    return "_".join(w.lower() for w in words) + "_url"


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


# ----------------------------------------------------------------------- AWS


def client(service: str, endpoint: str, region: str = REGION) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        service, endpoint_url=endpoint, region_name=region,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        config=Config(retries={"mode": "standard", "total_max_attempts": 5}),
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


def ensure_table(ddb: Any, name: str, spec: dict[str, Any]) -> str:
    """Creates the table unless it exists; enables TTL. Returns "created" or "exists"."""
    create = {k: v for k, v in spec.items() if k != "TimeToLive"}
    status = "created"
    try:
        ddb.create_table(TableName=name, **create)
    except ddb.exceptions.ResourceInUseException:
        status = "exists"
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Create the local table and queues from infra/template.yaml.")
    p.add_argument("--endpoint", default=os.environ.get("FANTOOO_AWS_ENDPOINT", "http://127.0.0.1:4599"))
    p.add_argument("--table", default="fantooo-local")
    p.add_argument("--queue-prefix", default="fantooo-local")
    p.add_argument("--template", default=str(DEFAULT_TEMPLATE))
    p.add_argument("--region", default=REGION)
    p.add_argument("--wait", type=float, default=15.0,
                   help="seconds to wait for the endpoint to accept connections")
    p.add_argument("--check", action="store_true", help="print what would be created; call nothing")
    p.add_argument("--print-routes", action="store_true",
                   help="print the template's HTTP API routes as JSON (method, path, function, binary)")
    args = p.parse_args(argv)

    template = load_template(args.template)
    if args.print_routes:
        print(json.dumps(http_routes(template), indent=1))
        return 0
    table_logical_id, spec = table_spec(template)
    queues = queue_specs(template, args.queue_prefix)

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
        }
        print(json.dumps(plan, indent=2))
        return 0

    wait_for_endpoint(args.endpoint, args.wait)
    table_status = ensure_table(client("dynamodb", args.endpoint, args.region), args.table, spec)
    created = ensure_queues(client("sqs", args.endpoint, args.region), queues)

    out: dict[str, Any] = {"table": args.table}
    for q in queues:
        out[q["output_key"]] = created[q["logical_id"]]["url"]
    out["endpoint"] = args.endpoint
    out["region"] = args.region
    out["table_status"] = table_status
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
