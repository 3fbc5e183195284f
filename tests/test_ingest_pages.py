"""The import centre page (issue 6): renders in zh-CN and en, registers, uploads, issues a push token once,
switches a source; refused to those without ``ingest.manage``; forms need the session's CSRF token."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gridgov.accounts import service as accounts
from gridgov.core.db import session_factory
from gridgov.demo.accounts import DemoAccount
from test_ingest_sources import as_csv, entity_rows, entity_spec, unique_name


@pytest.fixture
def session_client(
    app: FastAPI, engine: Engine, demo_accounts: dict[str, DemoAccount]
) -> Iterator[TestClient]:
    """The district operator logged in with a session cookie (as a browser is); ``.csrf`` is its token."""
    with session_factory(engine)() as session:
        user = accounts.get_user_by_name(session, demo_accounts["district_operator"].username)
        issued = accounts.start_session(session, user, "127.0.0.1")
        session.commit()
    with TestClient(app, base_url="https://testserver") as browser:
        browser.cookies.set("gridgov_session", issued.secret)
        browser.csrf = issued.csrf_token  # type: ignore[attr-defined]
        yield browser


def test_the_page_renders_in_both_languages_with_sources_and_batches(client: TestClient) -> None:
    name = unique_name("page")
    assert client.post("/api/ingest/sources", json={"spec": entity_spec(name)}).status_code == 201
    chinese = client.get("/ingest", params={"lang": "zh-CN"})
    assert chinese.status_code == 200
    assert "数据导入中心" in chinese.text and name in chinese.text and "南山区市场监督管理局" in chinese.text
    assert 'href="/ingest"' in chinese.text  # the navigation links here
    assert "ingest.js" in chinese.text and 'id="ingest-config"' in chinese.text
    english = client.get("/ingest", params={"lang": "en"})
    assert english.status_code == 200
    assert "Import centre" in english.text and "Register a source" in english.text
    assert "ingest." not in re.sub(r"ingest\.js|/ingest[\w/.{}-]*|tests\.\w+|ingest-\w+", "", english.text)
    client.get("/", params={"lang": "zh-CN"})  # the shared client's language cookie back to Chinese


def test_register_upload_token_and_switch_through_the_forms(client: TestClient) -> None:
    name = unique_name("page")
    wrong = client.post("/ingest/sources?lang=zh-CN", data={"spec": "name: Bad Name\nrecord: entity\n"})
    assert wrong.status_code == 422 and "映射规格有误" in wrong.text and "name" in wrong.text
    assert "Bad Name" in wrong.text  # what was pasted stays in the form
    done = client.post(
        "/ingest/sources",
        files={"spec_file": ("spec.yaml", entity_spec(name).encode(), "application/yaml")},
        follow_redirects=False,
    )
    assert done.status_code == 303 and "registered=" in done.headers["location"]

    upload = client.post(
        f"/ingest/sources/{name}/upload",
        files={"file": ("feed.csv", as_csv(entity_rows(2, broken=1)), "text/csv")},
        follow_redirects=False,
    )
    assert upload.status_code == 303, upload.text
    batch = int(re.search(r"batch=(\d+)", upload.headers["location"]).group(1))  # type: ignore[union-attr]
    deadline = time.monotonic() + 60
    while client.get(f"/api/ingest/batches/{batch}").json()["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    page = client.get(f"/ingest?batch={batch}", params={"lang": "zh-CN"})
    assert f'id="batch-{batch}"' in page.text and "已完成" in page.text
    assert f"/api/ingest/batches/{batch}/quarantine.xlsx" in page.text

    issued = client.post(f"/ingest/sources/{name}/token?lang=zh-CN", data={"action": "issue"})
    assert issued.status_code == 200 and issued.headers["cache-control"] == "no-store"
    token = re.search(r"ggs_[\w-]+", issued.text)
    assert token is not None and "只显示这一次" in issued.text
    assert token.group(0) not in client.get("/ingest").text  # shown once
    revoked = client.post(f"/ingest/sources/{name}/token", data={"action": "revoke"})
    assert revoked.status_code == 200

    off = client.post(f"/ingest/sources/{name}/active", data={"active": "0"}, follow_redirects=False)
    assert off.status_code == 303
    refused = client.post(
        f"/ingest/sources/{name}/upload",
        files={"file": ("feed.csv", as_csv(entity_rows(1)), "text/csv")},
    )
    assert refused.status_code == 422 and name in refused.text


def test_forms_need_the_sessions_csrf_token(session_client: TestClient) -> None:
    name = unique_name("csrf")
    refused = session_client.post("/ingest/sources", data={"spec": entity_spec(name)})
    assert refused.status_code == 403
    taken = session_client.post(
        "/ingest/sources",
        data={"spec": entity_spec(name), "csrf_token": session_client.csrf},  # type: ignore[attr-defined]
        follow_redirects=False,
    )
    assert taken.status_code == 303
    page = session_client.get("/ingest")
    assert page.status_code == 200 and name in page.text
    assert session_client.csrf in page.text  # type: ignore[attr-defined]


def test_only_ingest_managers_see_the_page(
    client_for: Callable[[str], TestClient], anonymous_client: TestClient
) -> None:
    assert client_for("district_operator").get("/ingest").status_code == 200
    for role in ("grid_worker", "street_operator", "auditor"):
        response = client_for(role).get("/ingest", headers={"Accept": "text/html"})
        assert response.status_code == 403, role
        assert 'href="/ingest"' not in client_for(role).get("/").text
    anonymous = anonymous_client.get("/ingest", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
