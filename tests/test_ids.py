"""Every route with a row id in its path refuses an id no table can hold (≥ 2^63) with a 422 naming it,
before the database sees it (an overflow there was a 500)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

ID_PARAM = re.compile(r"{(\w+_id)}")
TOO_LARGE = 2**63  # one past the largest signed 64-bit integer


def routes(items: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    for route in items:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from routes(inner.routes, prefix + (getattr(route.include_context, "prefix", "") or ""))
        elif isinstance(route, APIRoute):
            yield prefix + route.path, route


def fill(path: str, ids: list[str], value: int) -> str:
    return re.sub(r"{(\w+)}", lambda m: str(value) if m.group(1) in ids else "x", path)


def test_ids_beyond_64_bits_are_refused_by_validation_on_every_route(
    app: FastAPI, client: TestClient
) -> None:
    probed = []
    for path, route in routes(app.routes):
        numeric = {p.name for p in route.dependant.path_params if p.field_info.annotation is int}
        names = [name for name in ID_PARAM.findall(path) if name in numeric]  # open311's ids are tickets
        if not names:
            continue
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            for value in (TOO_LARGE, 0):
                url = fill(path, names, value)
                response = client.request(method, url, json={})
                assert response.status_code == 422, f"{method} {url}: {response.status_code}"
                fields = {d["field"] for d in response.json()["error"]["details"]}
                assert set(names) <= fields, f"{method} {url}: {fields}"
            probed.append(f"{method} {path}")
    # Counted by hand from the routers: accounts 4, address 1, ingest 2 + review 2, registry 7 + pages 3,
    # tasks 2 + pages 2.
    assert len(probed) == 23, probed


def test_a_target_id_query_beyond_64_bits_is_refused(client: TestClient) -> None:
    response = client.get("/api/tasks", params={"target_id": TOO_LARGE})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "target_id"
