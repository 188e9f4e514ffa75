#!/usr/bin/env python3
"""Checks local/emulator.py from the outside with boto3.

Run against a running emulator:
  .venv/bin/python local/emulator_selftest.py --endpoint http://127.0.0.1:4599 [--rounds 20]

1. Race: N threads (default 32) run `SET credits = credits - :one` with
   `credits >= :one` on an item holding 5 credits; counts successes per round.
   With the emulator's DynamoDB lock every round must give exactly 5; with
   --expect-interleave it reports how many rounds went over.
2. Transaction race: N threads each run a TransactWriteItems that decrements
   the balance and puts a ledger item; the ledger count must equal the successes.
3. Fault injection: sets conflict_rate 1 and checks boto3 parses
   TransactionCanceledException with CancellationReasons and the write was not
   applied; then throttle_rate 1 -> ThrottlingException; then restores the rates.
4. EventBridge faults: on a scratch bus with a rule into a scratch SQS queue,
   events_fail_rate 1 makes PutEvents (boto3 without retries) fail with HTTP
   500 InternalException and deliver nothing; at 0 the event is delivered.
5. Counters: GET /_fantooo/faults reports calls per X-Amz-Target.

Prints a JSON summary; exits non-zero if a check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import urllib.request
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def control(endpoint: str, name: str, payload: dict | None = None) -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(f"{endpoint}/_fantooo/{name}", data=data,
                                 method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def client(endpoint: str, retries: int = 0):
    return boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="af-south-1",
        aws_access_key_id="local", aws_secret_access_key="local",
        config=Config(retries={"total_max_attempts": retries + 1, "mode": "standard"},
                      max_pool_connections=64),
    )


def make_table(ddb, name: str) -> None:
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                              {"AttributeName": "SK", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                   {"AttributeName": "SK", "KeyType": "RANGE"}],
    )


def race_round(ddb, table: str, threads: int, credits: int) -> int:
    key = {"PK": {"S": f"MEMBER#{uuid.uuid4().hex}"}, "SK": {"S": "PROFILE"}}
    ddb.put_item(TableName=table, Item={**key, "credits": {"N": str(credits)}})
    barrier = threading.Barrier(threads)
    wins: list[int] = []
    errors: list[str] = []

    def worker() -> None:
        barrier.wait()
        try:
            ddb.update_item(
                TableName=table, Key=key,
                UpdateExpression="SET credits = credits - :one",
                ConditionExpression="credits >= :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
            wins.append(1)
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                errors.append(err.response["Error"]["Code"])

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError(f"unexpected errors: {errors[:3]}")
    return len(wins)


def transact_round(ddb, table: str, threads: int, credits: int) -> tuple[int, int, int, int]:
    member = f"MEMBER#{uuid.uuid4().hex}"
    key = {"PK": {"S": member}, "SK": {"S": "PROFILE"}}
    ddb.put_item(TableName=table, Item={**key, "credits": {"N": str(credits)}})
    barrier = threading.Barrier(threads)
    wins: list[int] = []
    server_errors: list[str] = []

    def worker(i: int) -> None:
        barrier.wait()
        try:
            ddb.transact_write_items(TransactItems=[
                {"Update": {
                    "TableName": table, "Key": key,
                    "UpdateExpression": "SET credits = credits - :one",
                    "ConditionExpression": "credits >= :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }},
                {"Put": {
                    "TableName": table,
                    "Item": {"PK": {"S": member}, "SK": {"S": f"LEDGER#{i:03d}"},
                             "amount": {"N": "-1"}},
                    "ConditionExpression": "attribute_not_exists(PK)",
                }},
            ])
            wins.append(1)
        except ClientError as err:
            code = err.response["Error"]["Code"]
            if code != "TransactionCanceledException":
                server_errors.append(code)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    ledger = ddb.query(
        TableName=table, KeyConditionExpression="PK = :pk AND begins_with(SK, :l)",
        ExpressionAttributeValues={":pk": {"S": member}, ":l": {"S": "LEDGER#"}},
        Select="COUNT", ConsistentRead=True)["Count"]
    balance = int(ddb.get_item(TableName=table, Key=key, ConsistentRead=True)
                  ["Item"]["credits"]["N"])
    return len(wins), ledger, balance, len(server_errors)


def rollback_checks(ddb, table: str) -> dict:
    """A cancelled transaction leaves no trace: updated, put and deleted items stay as they were."""
    m = f"MEMBER#{uuid.uuid4().hex}"
    key = lambda sk: {"PK": {"S": m}, "SK": {"S": sk}}  # noqa: E731
    ddb.put_item(TableName=table, Item={**key("A"), "x": {"N": "0"}})
    ddb.put_item(TableName=table, Item={**key("C"), "x": {"N": "7"}})
    ddb.put_item(TableName=table, Item={**key("D"), "x": {"N": "1"}})

    def state() -> dict:
        items = ddb.query(TableName=table, KeyConditionExpression="PK = :pk",
                          ExpressionAttributeValues={":pk": {"S": m}}, ConsistentRead=True)
        return {i["SK"]["S"]: i.get("x", {}).get("N") for i in items["Items"]}

    before = state()
    out: dict = {"before": before}
    try:
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": key("A"), "UpdateExpression": "SET x = :v",
                        "ExpressionAttributeValues": {":v": {"N": "5"}}}},
            {"Put": {"TableName": table, "Item": {**key("B"), "x": {"N": "9"}}}},
            {"Delete": {"TableName": table, "Key": key("C")}},
            {"ConditionCheck": {"TableName": table, "Key": key("D"),
                                "ConditionExpression": "x = :two",
                                "ExpressionAttributeValues": {":two": {"N": "2"}}}},
        ])
        raise AssertionError("transaction should have been cancelled")
    except ClientError as err:
        assert err.response["Error"]["Code"] == "TransactionCanceledException", err.response
        out["reasons"] = [r["Code"] for r in err.response["CancellationReasons"]]
    out["after_cancel"] = state()
    assert out["after_cancel"] == before, out
    try:  # two operations on one item: ValidationException, nothing written
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {**key("E"), "x": {"N": "1"}}}},
            {"Update": {"TableName": table, "Key": key("A"), "UpdateExpression": "SET x = :v",
                        "ExpressionAttributeValues": {":v": {"N": "5"}}}},
            {"Delete": {"TableName": table, "Key": key("A")}},
        ])
        raise AssertionError("duplicate-key transaction should fail")
    except ClientError as err:
        out["duplicate_key_error"] = err.response["Error"]["Code"]
    out["after_duplicate"] = state()
    assert out["after_duplicate"] == before, out
    ddb.transact_write_items(TransactItems=[
        {"Update": {"TableName": table, "Key": key("A"), "UpdateExpression": "SET x = :v",
                    "ExpressionAttributeValues": {":v": {"N": "5"}}}},
        {"Put": {"TableName": table, "Item": {**key("B"), "x": {"N": "9"}}}},
        {"Delete": {"TableName": table, "Key": key("C")}},
    ])
    out["after_commit"] = state()
    assert out["after_commit"] == {"A": "5", "B": "9", "D": "1"}, out
    return out


def fault_checks(endpoint: str, ddb, table: str) -> dict:
    out: dict = {}
    before = control(endpoint, "faults")
    member = f"MEMBER#{uuid.uuid4().hex}"
    items = [
        {"Put": {"TableName": table, "Item": {"PK": {"S": member}, "SK": {"S": f"X#{i}"}}}}
        for i in range(3)
    ]
    try:
        control(endpoint, "faults", {"conflict_rate": 1.0, "throttle_rate": 0.0})
        try:
            ddb.transact_write_items(TransactItems=items)
            raise AssertionError("conflict was not injected")
        except ClientError as err:
            code = err.response["Error"]["Code"]
            reasons = err.response.get("CancellationReasons")
            assert code == "TransactionCanceledException", code
            assert reasons and len(reasons) == 3, reasons
            assert sorted(r["Code"] for r in reasons) == ["None", "None", "TransactionConflict"]
            out["conflict"] = {"code": code, "reasons": reasons,
                               "message": err.response["Error"]["Message"]}
        n = ddb.query(TableName=table, KeyConditionExpression="PK = :pk",
                      ExpressionAttributeValues={":pk": {"S": member}},
                      Select="COUNT")["Count"]
        assert n == 0, f"injected conflict applied the write ({n} items)"
        out["conflict"]["items_written"] = n

        control(endpoint, "faults", {"conflict_rate": 0.0, "throttle_rate": 1.0})
        try:
            ddb.transact_write_items(TransactItems=items)
            raise AssertionError("throttle was not injected")
        except ClientError as err:
            code = err.response["Error"]["Code"]
            assert code == "ThrottlingException", code
            out["throttle"] = {"code": code, "message": err.response["Error"]["Message"]}

        # boto3's own retry absorbs throttles at a partial rate; the write lands once.
        control(endpoint, "faults", {"conflict_rate": 0.0, "throttle_rate": 0.5})
        retrying = client(endpoint, retries=20)
        retrying.transact_write_items(TransactItems=items)
        n = ddb.query(TableName=table, KeyConditionExpression="PK = :pk",
                      ExpressionAttributeValues={":pk": {"S": member}},
                      Select="COUNT")["Count"]
        assert n == 3, n
        out["throttle_then_retry_items_written"] = n
    finally:
        control(endpoint, "faults", {"conflict_rate": before["conflict_rate"],
                                     "throttle_rate": before["throttle_rate"]})
    after = control(endpoint, "faults")
    out["injected_conflicts"] = after["injected_conflicts"] - before["injected_conflicts"]
    out["injected_throttles"] = after["injected_throttles"] - before["injected_throttles"]
    return out


def events_fault_checks(endpoint: str) -> dict:
    kw = dict(endpoint_url=endpoint, region_name="af-south-1",
              aws_access_key_id="local", aws_secret_access_key="local")
    events = boto3.client("events", config=Config(retries={"total_max_attempts": 1}), **kw)
    sqs = boto3.client("sqs", **kw)
    name = f"selftest-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.create_event_bus(Name=name)
    events.put_rule(Name=name, EventBusName=name, EventPattern=json.dumps({"source": [{"prefix": ""}]}))
    events.put_targets(Rule=name, EventBusName=name, Targets=[{"Id": "q", "Arn": arn}])
    entry = [{"EventBusName": name, "Source": "selftest", "DetailType": "t", "Detail": "{}"}]

    def delivered() -> int:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                   WaitTimeSeconds=1).get("Messages", [])
        return len(msgs)

    out: dict = {}
    before = control(endpoint, "faults")
    try:
        control(endpoint, "faults", {"events_fail_rate": 1.0})
        try:
            events.put_events(Entries=entry)
            raise AssertionError("PutEvents failure was not injected")
        except ClientError as err:
            status = err.response["ResponseMetadata"]["HTTPStatusCode"]
            code = err.response["Error"]["Code"]
            assert (status, code) == (500, "InternalException"), (status, code)
            out["failure"] = {"status": status, "code": code}
        out["delivered_while_failing"] = delivered()
        assert out["delivered_while_failing"] == 0, out
        control(endpoint, "faults", {"events_fail_rate": 0.0})
        assert events.put_events(Entries=entry)["FailedEntryCount"] == 0
        out["delivered_after"] = delivered()
        assert out["delivered_after"] == 1, out
    finally:
        control(endpoint, "faults", {"events_fail_rate": before["events_fail_rate"]})
        events.remove_targets(Rule=name, EventBusName=name, Ids=["q"])
        events.delete_rule(Name=name, EventBusName=name)
        events.delete_event_bus(Name=name)
        sqs.delete_queue(QueueUrl=url)
    after = control(endpoint, "faults")
    out["injected_event_failures"] = after["injected_event_failures"] - before["injected_event_failures"]
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", default="http://127.0.0.1:4599")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--threads", type=int, default=32)
    p.add_argument("--credits", type=int, default=5)
    p.add_argument("--expect-interleave", action="store_true",
                   help="report over-spends instead of failing on them")
    p.add_argument("--skip-faults", action="store_true")
    args = p.parse_args()

    ddb = client(args.endpoint)
    table = f"selftest-{uuid.uuid4().hex[:8]}"
    make_table(ddb, table)
    control(args.endpoint, "reset-counters", {})
    state = control(args.endpoint, "faults")

    update_wins = [race_round(ddb, table, args.threads, args.credits) for _ in range(args.rounds)]
    tx = [transact_round(ddb, table, args.threads, args.credits) for _ in range(args.rounds)]
    summary: dict = {
        "interleave": state["interleave"],
        "threads": args.threads, "credits": args.credits, "rounds": args.rounds,
        "update_item_successes_per_round": update_wins,
        "update_item_bad_rounds": sum(w != args.credits for w in update_wins),
        "transact_successes_per_round": [w for w, _, _, _ in tx],
        "transact_bad_rounds": sum(
            not (w == args.credits and led == w and bal == args.credits - w and e == 0)
            for w, led, bal, e in tx),
        "transact_rounds_detail_bad": [
            {"wins": w, "ledger": led, "balance": bal, "server_errors": e}
            for w, led, bal, e in tx
            if not (w == args.credits and led == w and bal == args.credits - w and e == 0)],
    }
    ok = True
    if not args.expect_interleave:
        ok = summary["update_item_bad_rounds"] == 0 and summary["transact_bad_rounds"] == 0
    summary["rollback"] = rollback_checks(ddb, table)
    if not args.skip_faults:
        summary["faults"] = fault_checks(args.endpoint, ddb, table)
        summary["event_faults"] = events_fault_checks(args.endpoint)
    summary["calls"] = control(args.endpoint, "faults")["calls"]
    ddb.delete_table(TableName=table)
    summary["ok"] = ok
    print(json.dumps(summary, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
