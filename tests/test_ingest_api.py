"""The ingest API (issue 6): HTTP push with a source's token, and the import centre's routes — on both
backends, against the shared test database (each test registers sources of its own)."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from gridgov.core.settings import get_settings
from gridgov.ingest import sources
from test_ingest_sources import ENTITY_COLUMNS, as_csv, entity_rows, entity_spec, unique_name

NDJSON = "application/x-ndjson"


def as_jsonl(rows: list[dict[str, str]]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def counts(body: dict[str, Any]) -> tuple[int, int, int, int, int]:
    return body["rows"], body["accepted"], body["merged"], body["unchanged"], body["quarantined"]


@pytest.fixture
def pusher(client: TestClient) -> tuple[str, str]:
    """A fresh source registered through the API, with its push token: (name, token)."""
    name = unique_name("push")
    response = client.post("/api/ingest/sources", json={"spec": entity_spec(name)})
    assert response.status_code == 201, response.text
    issued = client.post(f"/api/ingest/sources/{name}/token")
    assert issued.status_code == 201, issued.text
    assert issued.json()["push_url"] == f"/api/ingest/push/{name}"
    return name, issued.json()["token"]


def push(anonymous_client: TestClient, name: str, token: str, body: bytes, content_type: str = NDJSON) -> Any:
    return anonymous_client.post(
        f"/api/ingest/push/{name}",
        content=body,
        headers={"X-Source-Token": token, "Content-Type": content_type},
    )


# ---- push ---------------------------------------------------------------------------------------------


def test_push_json_lines_then_the_same_body_again_comes_back_unchanged(
    anonymous_client: TestClient, pusher: tuple[str, str]
) -> None:
    name, token = pusher
    body = as_jsonl(entity_rows(3, broken=1))
    first = push(anonymous_client, name, token, body)
    assert first.status_code == 200, first.text
    report = first.json()
    assert counts(report) == (4, 3, 0, 0, 1)
    assert report["quarantine"] == f"/api/ingest/batches/{report['batch']}/quarantine.xlsx"
    kept = sources.inbox_dir(get_settings().var_dir) / report["file"]
    assert kept.is_file() and kept.read_bytes() == body
    again = push(anonymous_client, name, token, body)
    assert again.status_code == 200, again.text
    assert counts(again.json()) == (4, 0, 0, 3, 1) and again.json()["batch"] != report["batch"]


def test_push_a_json_array_and_csv(anonymous_client: TestClient, pusher: tuple[str, str]) -> None:
    name, token = pusher
    array = json.dumps([*entity_rows(2), "not an object"], ensure_ascii=False).encode()
    response = push(anonymous_client, name, token, array, "application/json; charset=utf-8")
    assert response.status_code == 200, response.text
    assert counts(response.json()) == (3, 2, 0, 0, 1)  # the element that is no object is quarantined
    response = push(anonymous_client, name, token, as_csv(entity_rows(2, broken=2)), "text/csv")
    assert response.status_code == 200, response.text
    assert counts(response.json()) == (4, 2, 0, 0, 2)


def test_a_body_the_reader_cannot_take_is_refused_and_kept(
    anonymous_client: TestClient, pusher: tuple[str, str]
) -> None:
    name, token = pusher
    inbox = sources.inbox_dir(get_settings().var_dir)
    for body, content_type in (
        (b'[{"\xe5\xba\x8f\xe5\x8f\xb7": "1"},', "application/json"),  # cut off
        (b"", "text/csv"),  # no header
        (",".join(ENTITY_COLUMNS).encode() + b"\n", "text/csv"),  # no rows
    ):
        response = push(anonymous_client, name, token, body, content_type)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "unreadable_body"
        assert (inbox / error["details"]["kept"]).read_bytes() == body
        assert error["details"]["kept"] in error["message"]
    bad_type = push(anonymous_client, name, token, b"<xml/>", "application/xml")
    assert bad_type.status_code == 415


def test_push_bodies_over_the_limit_get_413(
    anonymous_client: TestClient, pusher: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, token = pusher
    monkeypatch.setattr(sources, "PUSH_MAX_BYTES", 1024)
    response = push(anonymous_client, name, token, as_jsonl(entity_rows(20)))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large" and "split" in response.json()["error"]["message"]

    async def chunks() -> Any:  # no Content-Length: counted as it streams
        for _ in range(4):
            yield b"x" * 512

    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    # (In a thread of its own: a browser test in this worker may have left an event loop running here.)
    with pytest.raises(sources.BodyTooLarge), ThreadPoolExecutor(1) as pool:
        pool.submit(
            asyncio.run,
            sources.store_stream(
                chunks(), sources.inbox_dir(get_settings().var_dir), suffix=".x", max_bytes=1024
            ),
        ).result()


def test_push_needs_this_sources_token_and_refuses_user_credentials(
    anonymous_client: TestClient,
    client: TestClient,
    client_for: Callable[[str], TestClient],
    pusher: tuple[str, str],
) -> None:
    name, token = pusher
    body = as_jsonl(entity_rows(1))
    nobody = anonymous_client.post(f"/api/ingest/push/{name}", content=body, headers={"Content-Type": NDJSON})
    assert nobody.status_code == 401 and nobody.json()["error"]["code"] == "unauthenticated"
    wrong = push(anonymous_client, name, token[:-2] + "zz", body)
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_token"
    bearer_wrong = anonymous_client.post(
        f"/api/ingest/push/{name}",
        content=body,
        headers={"Authorization": "Bearer ggs_not-a-token", "Content-Type": NDJSON},
    )
    assert bearer_wrong.status_code == 401
    # A user's API token (even the administrator's) does not push.
    for user_client in (client, client_for("grid_worker")):
        refused = user_client.post(f"/api/ingest/push/{name}", content=body, headers={"Content-Type": NDJSON})
        assert refused.status_code == 403, refused.text
    # Another source's token does not push to this one.
    other = unique_name("push")
    assert client.post("/api/ingest/sources", json={"spec": entity_spec(other)}).status_code == 201
    other_token = client.post(f"/api/ingest/sources/{other}/token").json()["token"]
    assert push(anonymous_client, name, other_token, body).status_code == 403
    # A source token opens nothing else.
    elsewhere = anonymous_client.get("/api/ingest/sources", headers={"Authorization": f"Bearer {token}"})
    assert elsewhere.status_code == 401
    # Switched off: refused; revoked: unknown.
    assert client.post(f"/api/ingest/sources/{name}/active", json={"active": False}).status_code == 200
    assert push(anonymous_client, name, token, body).status_code == 403
    assert client.post(f"/api/ingest/sources/{name}/active", json={"active": True}).status_code == 200
    assert push(anonymous_client, name, token, body).status_code == 200
    assert client.delete(f"/api/ingest/sources/{name}/token").status_code == 204
    assert push(anonymous_client, name, token, body).status_code == 401


def test_push_with_the_token_as_a_bearer(anonymous_client: TestClient, pusher: tuple[str, str]) -> None:
    name, token = pusher
    response = anonymous_client.post(
        f"/api/ingest/push/{name}",
        content=as_jsonl(entity_rows(1)),
        headers={"Authorization": f"Bearer {token}", "Content-Type": NDJSON},
    )
    assert response.status_code == 200, response.text


# ---- the import centre ---------------------------------------------------------------------------------


def wait_for_batch(client: TestClient, batch_id: int, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/api/ingest/batches/{batch_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] != "running" or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_register_a_spec_and_a_wrong_one_is_refused_with_where(client: TestClient) -> None:
    name = unique_name("api")
    response = client.post("/api/ingest/sources", json={"spec": entity_spec(name)})
    assert response.status_code == 201, response.text
    assert response.json()["department"] == "南山区市场监督管理局" and response.json()["last_batch"] is None
    wrong = client.post(
        "/api/ingest/sources",
        json={"spec": entity_spec(name).replace("type: credit_code", "type: passport")},
    )
    assert wrong.status_code == 422
    assert "fields.credit_code.type" in wrong.json()["error"]["message"]
    listed = client.get("/api/ingest/sources").json()
    assert any(row["name"] == name for row in listed)


def test_upload_runs_in_the_background_and_its_quarantine_downloads(client: TestClient) -> None:
    name = unique_name("upload")
    assert client.post("/api/ingest/sources", json={"spec": entity_spec(name)}).status_code == 201
    response = client.post(
        "/api/ingest/uploads",
        data={"source": name},
        files={"file": ("商事登记 测试.csv", as_csv(entity_rows(5, broken=2)), "text/csv")},
    )
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["status_url"] == f"/api/ingest/batches/{started['batch']}"
    batch = wait_for_batch(client, started["batch"])
    assert batch["status"] == "done" and batch["file"] == "商事登记_测试.csv"
    assert (batch["rows"], batch["accepted"], batch["quarantined"]) == (7, 5, 2)
    assert batch["accepted"] + batch["merged"] + batch["unchanged"] + batch["quarantined"] == batch["rows"]

    download = client.get(started["quarantine"], params={"lang": "en", "reason": "fix and replay"})
    assert download.status_code == 200
    assert download.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml"
    )
    sheet = load_workbook(io.BytesIO(download.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "序号" and len(rows) == 1 + 2
    assert all(row[-1] for row in rows[1:])  # every held row says why

    listed = client.get("/api/ingest/batches", params={"source": name}).json()
    assert [b["batch"] for b in listed] == [started["batch"]]
    mine = next(row for row in client.get("/api/ingest/sources").json() if row["name"] == name)
    assert mine["last_batch"]["batch"] == started["batch"] and mine["totals"]["rows"] == 7

    again = client.post(
        "/api/ingest/uploads",
        data={"source": name},
        files={"file": ("again.csv", b"", "text/csv")},
    )
    assert again.status_code == 422
    unknown = client.post(
        "/api/ingest/uploads",
        data={"source": "tests.nobody_here"},
        files={"file": ("x.csv", as_csv(entity_rows(1)), "text/csv")},
    )
    assert unknown.status_code == 404
    assert client.get("/api/ingest/batches/999999").status_code == 404
    assert client.get("/api/ingest/batches/999999/quarantine.xlsx").status_code == 404


@pytest.mark.parametrize("role", ["grid_worker", "street_operator", "auditor"])
def test_the_import_centre_is_for_district_operators(
    role: str, client_for: Callable[[str], TestClient], client: TestClient
) -> None:
    user = client_for(role)
    name = unique_name("perm")
    assert user.get("/api/ingest/sources").status_code == 403
    assert user.get("/api/ingest/batches").status_code == 403
    assert user.post("/api/ingest/sources", json={"spec": entity_spec(name)}).status_code == 403
    response = user.post(
        "/api/ingest/uploads",
        data={"source": name},
        files={"file": ("x.csv", as_csv(entity_rows(1)), "text/csv")},
    )
    assert response.status_code == 403
    assert client_for("district_operator").get("/api/ingest/sources").status_code == 200
