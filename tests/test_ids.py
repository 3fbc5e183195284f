"""Every route with a row id in its path refuses an id no table can hold with a 422 naming it, before the
database sees it (an overflow there was a 500: at 2^63 on SQLite, at 2^31 on PostgreSQL's ``integer``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

ID_PARAM = re.compile(r"{(\w+_id)}")
TOO_LARGE = 2**63  # one past the largest signed 64-bit integer (SQLite)
TOO_LARGE_FOR_POSTGRES = 2**31  # one past PostgreSQL's integer


def routes(items: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    for route in items:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from routes(inner.routes, prefix + (getattr(route.include_context, "prefix", "") or ""))
        elif isinstance(route, APIRoute):
            yield prefix + route.path, route


def fill(path: str, ids: list[str], value: int) -> str:
    return re.sub(r"{(\w+)}", lambda m: str(value) if m.group(1) in ids else "x", path)


def test_ids_beyond_an_integer_column_are_refused_by_validation_on_every_route(
    app: FastAPI, client: TestClient
) -> None:
    probed = []
    for path, route in routes(app.routes):
        numeric = {p.name for p in route.dependant.path_params if p.field_info.annotation is int}
        names = [name for name in ID_PARAM.findall(path) if name in numeric]  # open311's ids are tickets
        if not names:
            continue
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            for value in (TOO_LARGE, TOO_LARGE_FOR_POSTGRES, 0):
                url = fill(path, names, value)
                response = client.request(method, url, json={})
                assert response.status_code == 422, f"{method} {url}: {response.status_code}"
                fields = {d["field"] for d in response.json()["error"]["details"]}
                assert set(names) <= fields, f"{method} {url}: {fields}"
            probed.append(f"{method} {path}")
    # Counted by hand from the routers: accounts 5 + pages 1 (unlock), address 1, ingest 2 + review 2,
    # registry 7 + pages 3, tasks 2 + pages 2.
    assert len(probed) == 25, probed


def test_a_target_id_query_beyond_64_bits_is_refused(client: TestClient) -> None:
    response = client.get("/api/tasks", params={"target_id": TOO_LARGE})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "target_id"


def request_integers(spec: dict[str, Any]) -> list[str]:
    """Where the requests of the OpenAPI take an integer with no upper bound (parameters and bodies,
    following $refs)."""
    found: list[str] = []

    def walk(node: Any, where: str, seen: frozenset[str]) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                if ref not in seen:
                    name = ref.rsplit("/", 1)[-1]
                    walk(spec["components"]["schemas"][name], f"{where}->{name}", seen | {ref})
                return
            if node.get("type") == "integer" and "maximum" not in node and "exclusiveMaximum" not in node:
                found.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}", seen)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]", seen)

    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                walk(parameter.get("schema"), f"{method.upper()} {path} {parameter['name']}", frozenset())
            walk(operation.get("requestBody"), f"{method.upper()} {path} body", frozenset())
    return found


def test_every_integer_a_request_takes_has_an_upper_bound(app: FastAPI) -> None:
    """Beyond what an ``Integer`` column holds a number reaches the database as an overflow (a 500): every
    integer a request takes is bounded in the schema, so validation answers first (and schemathesis
    generates within bounds)."""
    assert request_integers(app.openapi()) == []


def test_offsets_and_ids_in_queries_and_bodies_beyond_an_integer_column_are_refused(
    client: TestClient,
) -> None:
    for method, url, kwargs in [
        ("GET", "/api/audit", {"params": {"before_id": TOO_LARGE_FOR_POSTGRES}}),
        ("GET", "/api/tasks", {"params": {"target_id": TOO_LARGE_FOR_POSTGRES}}),
        ("GET", "/api/audit", {"params": {"before_id": TOO_LARGE}}),
        ("GET", "/api/events", {"params": {"offset": TOO_LARGE}}),
        ("GET", "/api/tasks", {"params": {"offset": TOO_LARGE}}),
        ("POST", "/api/tasks/rules/run", {"json": {"batch_id": TOO_LARGE}}),
    ]:
        response = client.request(method, url, **kwargs)
        assert response.status_code == 422, f"{method} {url}: {response.status_code}"
