#!/usr/bin/env python3
"""Check that the three route lists of the project agree.

1. infra/openapi.yaml      paths x methods
2. infra/template.yaml     HttpApi events of each AWS::Serverless::Function
3. the server's route table, as printed by `fantooo-local --print-routes`:
   [{"method": "GET", "path": "/health", "function": "public-api"}, ...]

The (METHOD, path) sets must be equal, and each route's function in the route
table must be the function that serves it in the template, identified by the
function's `Metadata.BuildProperties.Binary`.

Usage:
    cargo run -p fantooo-local -- --print-routes | python3 local/check_routes.py --routes -
    python3 local/check_routes.py --routes routes.json [--openapi F] [--template F]
    python3 local/check_routes.py --routes routes.json --no-template

Exit 0 with a one-line summary when everything agrees; 1 with the differences
otherwise (2 for unusable input).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
OPENAPI_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

Route = tuple[str, str]  # (METHOD, path)


class InputError(Exception):
    """A file is missing or not in the expected shape."""


# --- loading -----------------------------------------------------------------


class CfnLoader(yaml.SafeLoader):
    """A safe YAML loader that accepts CloudFormation short tags (!Ref, !Sub, ...)."""


def _cfn_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    return {name: value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_yaml(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"{path}: not found")
    with path.open(encoding="utf-8") as f:
        doc = yaml.load(f, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader
    if not isinstance(doc, dict):
        raise InputError(f"{path}: not a YAML mapping")
    return doc


def normalize_path(path: str) -> str:
    """`/chats/:id/messages` (axum 0.7 style) -> `/chats/{id}/messages`."""
    return re.sub(r"/:([A-Za-z_][A-Za-z0-9_]*)", r"/{\1}", path)


def openapi_routes(path: Path) -> set[Route]:
    doc = load_yaml(path)
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        raise InputError(f"{path}: no `paths` mapping")
    routes: set[Route] = set()
    for route_path, item in paths.items():
        if not isinstance(item, dict):
            raise InputError(f"{path}: path item {route_path!r} is not a mapping")
        for key in item:
            if key.lower() in OPENAPI_METHODS:
                routes.add((key.upper(), str(route_path)))
    return routes


def template_routes(path: Path) -> tuple[dict[Route, str], list[str]]:
    """(METHOD, path) -> the serving function's Binary, plus problems found on the way."""
    doc = load_yaml(path)
    resources = doc.get("Resources")
    if not isinstance(resources, dict):
        raise InputError(f"{path}: no `Resources` mapping")
    routes: dict[Route, str] = {}
    problems: list[str] = []
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        props = resource.get("Properties") or {}
        events = props.get("Events") or {}
        http_events = {
            name: ev for name, ev in events.items() if isinstance(ev, dict) and ev.get("Type") == "HttpApi"
        }
        if not http_events:
            continue
        binary = ((resource.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        if not isinstance(binary, str):
            problems.append(f"template: {logical_id} has HttpApi events but no Metadata.BuildProperties.Binary")
            binary = f"<{logical_id}: no Binary>"
        for name, event in http_events.items():
            ev_props = event.get("Properties") or {}
            method, ev_path = ev_props.get("Method"), ev_props.get("Path")
            if not isinstance(method, str) or not isinstance(ev_path, str):
                problems.append(
                    f"template: {logical_id}.Events.{name} needs literal string Path and Method "
                    f"(got Path={ev_path!r}, Method={method!r})"
                )
                continue
            route = (method.upper(), ev_path)
            if route in routes and routes[route] != binary:
                problems.append(
                    f"template: {route[0]} {route[1]} is served by both {routes[route]} and {binary}"
                )
            elif route in routes:
                problems.append(f"template: {route[0]} {route[1]} is declared twice in {binary}")
            routes[route] = binary
    return routes, problems


def table_routes(source: str) -> tuple[dict[Route, str], list[str]]:
    """The server's route table: (METHOD, path) -> function."""
    if source == "-":
        text, name = sys.stdin.read(), "<stdin>"
    else:
        file = Path(source)
        if not file.is_file():
            raise InputError(f"{file}: not found")
        text, name = file.read_text(encoding="utf-8"), str(file)
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{name}: not JSON ({exc})") from exc
    if not isinstance(entries, list):
        raise InputError(f"{name}: expected a JSON array of routes")
    routes: dict[Route, str] = {}
    problems: list[str] = []
    for i, entry in enumerate(entries):
        if not (
            isinstance(entry, dict)
            and all(isinstance(entry.get(k), str) for k in ("method", "path", "function"))
        ):
            raise InputError(f"{name}: entry {i} needs string method, path and function: {entry!r}")
        route = (entry["method"].upper(), normalize_path(entry["path"]))
        if route in routes:
            problems.append(f"route table: {route[0]} {route[1]} appears twice")
        routes[route] = entry["function"]
    return routes, problems


# --- comparing ---------------------------------------------------------------


def fmt(routes: set[Route]) -> list[str]:
    return [f"  {method} {path}" for path, method in sorted((p, m) for m, p in routes)]


def missing_from(label: str, others: dict[str, set[Route]], target: set[Route]) -> list[str]:
    """Lines for every route some other source has that `label` lacks."""
    lines: list[str] = []
    union = set().union(*others.values())
    absent = union - target
    if absent:
        lines.append(f"missing from {label}:")
        for path, method in sorted((p, m) for m, p in absent):
            found_in = ", ".join(name for name, routes in others.items() if (method, path) in routes)
            lines.append(f"  {method} {path}   (in {found_in})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routes", required=True, help="route table JSON file, or - for stdin")
    parser.add_argument("--openapi", type=Path, default=ROOT / "infra" / "openapi.yaml")
    parser.add_argument("--template", type=Path, default=ROOT / "infra" / "template.yaml")
    parser.add_argument("--no-template", action="store_true", help="compare only openapi.yaml and the route table")
    args = parser.parse_args(argv)

    try:
        spec = openapi_routes(args.openapi)
        table, problems = table_routes(args.routes)
        sources: dict[str, set[Route]] = {"openapi.yaml": spec, "route table": set(table)}
        template: dict[Route, str] = {}
        if not args.no_template:
            template, template_problems = template_routes(args.template)
            problems += template_problems
            sources["template.yaml"] = set(template)
    except (InputError, yaml.YAMLError) as exc:
        print(f"check_routes: {exc}", file=sys.stderr)
        return 2

    for label, routes in sources.items():
        problems += missing_from(label, {k: v for k, v in sources.items() if k != label}, routes)

    for route in sorted(set(table) & set(template), key=lambda r: (r[1], r[0])):
        if table[route] != template[route]:
            problems.append(
                f"function mismatch: {route[0]} {route[1]} is `{table[route]}` in the route table "
                f"but `{template[route]}` (Metadata.BuildProperties.Binary) in template.yaml"
            )

    if problems:
        print("check_routes: the route lists disagree", file=sys.stderr)
        for line in problems:
            print(line, file=sys.stderr)
        return 1

    functions = sorted(set(table.values()))
    compared = ", ".join(sources)
    print(
        f"check_routes: OK, {len(spec)} routes agree across {compared}; "
        f"functions: {', '.join(f'{f} ({list(table.values()).count(f)})' for f in functions)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
