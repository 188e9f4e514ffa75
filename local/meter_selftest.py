#!/usr/bin/env python3
"""Checks the emulator's capacity meter from the outside, with boto3.

Run against a running emulator:
  .venv/bin/python local/meter_selftest.py --endpoint http://127.0.0.1:4599

On a scratch table with one ALL and one KEYS_ONLY index, each request's
`x-fantooo-consumed` answer header must match what DynamoDB's rules give by hand:
a 1,025-byte put is 2 WRU (4 in a transaction); an update bills the larger image;
an index write is 1 per KB of its entry plus 100 bytes, 2 when its key moves, none
when nothing it projects changed; a failed condition still bills 1; a strongly
consistent GetItem of a 5 KB item is 2 RRU, 1 eventually consistent. Exits non-zero
on the first difference.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid

import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def consumed(response: dict) -> dict:
    return json.loads(response["ResponseMetadata"]["HTTPHeaders"]["x-fantooo-consumed"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--region", default="af-south-1")
    args = parser.parse_args(argv)
    ddb = boto3.client("dynamodb", endpoint_url=args.endpoint, region_name=args.region,
                       aws_access_key_id="local", aws_secret_access_key="local",
                       config=Config(retries={"max_attempts": 1}))
    # Injected conflicts and throttles would fail a transaction here: off for the
    # check, then back to what they were.
    faults_url = args.endpoint.rstrip("/") + "/_fantooo/faults"
    with urllib.request.urlopen(faults_url) as r:
        before = json.loads(r.read())
    rates = {k: before[k] for k in ("conflict_rate", "throttle_rate")}
    set_rates(faults_url, {"conflict_rate": 0, "throttle_rate": 0})
    try:
        return check(ddb)
    finally:
        set_rates(faults_url, rates)


def set_rates(url: str, rates: dict) -> None:
    req = urllib.request.Request(url, data=json.dumps(rates).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    urllib.request.urlopen(req).close()


def check(ddb) -> int:
    table = f"meter-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", "G1", "G2")],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {"IndexName": "ALLIDX", "KeySchema": [{"AttributeName": "G1", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "ALL"}},
            {"IndexName": "KEYSIDX", "KeySchema": [{"AttributeName": "G2", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "KEYS_ONLY"}},
        ],
    )
    failures: list[str] = []

    def expect(label: str, got: dict, **want: object) -> None:
        for k, v in want.items():
            if got.get(k) != v:
                failures.append(f"{label}: {k} = {got.get(k)!r}, expected {v!r} (whole: {got})")

    # PK(2)+"a"(1) + SK(2)+"s"(1) + pad(3)+1018 = 1027 bytes: 2 WRU, no index.
    key = {"PK": {"S": "a"}, "SK": {"S": "s"}}
    big = dict(key, pad={"S": "x" * 1018})
    expect("put 1,027 bytes", consumed(ddb.put_item(TableName=table, Item=big)), wru=2, wru_index={})
    expect("same put in a transaction",
           consumed(ddb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": big}}])),
           wru=4, wru_table=4)
    # Shrinking bills the larger (before) image; entering both indexes: ALL entry
    # = 9 + G1(2+1) + 100 = 112 bytes -> 1; KEYS_ONLY entry likewise -> 1.
    small = dict(key, G1={"S": "g"}, G2={"S": "h"})
    expect("shrink and enter two indexes", consumed(ddb.put_item(TableName=table, Item=small)),
           wru_table=2, wru_index={"ALLIDX": 1, "KEYSIDX": 1})
    # A non-key attribute: only the ALL index is rewritten.
    r = ddb.update_item(TableName=table, Key=key, UpdateExpression="SET n = :n",
                        ExpressionAttributeValues={":n": {"N": "1"}})
    expect("non-key update", consumed(r), wru_table=1, wru_index={"ALLIDX": 1})
    # Moving an index key: a delete and a put in that index.
    r = ddb.update_item(TableName=table, Key=key, UpdateExpression="SET G2 = :g",
                        ExpressionAttributeValues={":g": {"S": "moved"}})
    expect("index key moves", consumed(r), wru_index={"ALLIDX": 1, "KEYSIDX": 2})
    # A failed condition still bills 1 and touches no index.
    try:
        ddb.put_item(TableName=table, Item=small, ConditionExpression="attribute_not_exists(PK)")
        failures.append("conditional put: expected ConditionalCheckFailedException")
    except ClientError as e:
        header = e.response["ResponseMetadata"]["HTTPHeaders"].get("x-fantooo-consumed")
        expect("failed condition", json.loads(header or "{}"), wru=1, wru_index={})
    # Reads: a 5 KB item is 2 RRU strongly consistent, 1 eventually.
    five_kb = {"PK": {"S": "r"}, "SK": {"S": "s"}, "pad": {"S": "y" * 5000}}
    ddb.put_item(TableName=table, Item=five_kb)
    rkey = {"PK": {"S": "r"}, "SK": {"S": "s"}}
    expect("consistent get", consumed(ddb.get_item(TableName=table, Key=rkey, ConsistentRead=True)), rru=2.0)
    expect("eventual get", consumed(ddb.get_item(TableName=table, Key=rkey)), rru=1.0)

    ddb.delete_table(TableName=table)
    report = {"checks": 9, "failures": failures}
    print(json.dumps(report))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
