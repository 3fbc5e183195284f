"""The edge of the web app: CSRF and login decided by the route (under a root path too), anonymous bodies
refused before they are read, versioned static files cached for a year."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gridgov.accounts import service as accounts
from gridgov.core.db import session_factory
from gridgov.demo.accounts import DemoAccount

MB = 1024 * 1024


@pytest.fixture
def session_under_root_path(
    app: FastAPI, engine: Engine, demo_accounts: dict[str, DemoAccount]
) -> Iterator[tuple[TestClient, str]]:
    """A browser logged in with a session cookie to the app served under ``/gg`` (as behind a proxy with
    ``uvicorn --root-path /gg``: the path the app sees starts with the root path)."""
    with session_factory(engine)() as session:
        user = accounts.get_user_by_name(session, demo_accounts["admin"].username)
        issued = accounts.start_session(session, user, "127.0.0.1")
        session.commit()
    with TestClient(app, base_url="https://testserver", root_path="/gg") as browser:
        browser.cookies.set("gridgov_session", issued.secret)
        yield browser, issued.csrf_token


def test_csrf_is_checked_under_a_root_path(session_under_root_path: tuple[TestClient, str]) -> None:
    browser, csrf = session_under_root_path
    assert browser.get("/gg/api/me").json()["via"] == "session"
    forged = browser.post("/gg/api/me/tokens", json={"name": "no-csrf"})
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "csrf"
    wrong = browser.post("/gg/api/me/tokens", json={"name": "wrong"}, headers={"X-CSRF-Token": "x" * 32})
    assert wrong.status_code == 403
    ok = browser.post("/gg/api/me/tokens", json={"name": "with-csrf"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201


def test_a_source_push_under_a_root_path_is_not_taken_for_a_user_token(app: FastAPI) -> None:
    """The push route reads its own token: the middleware must not answer 'unknown user token' for it."""
    with TestClient(app, base_url="https://testserver", root_path="/gg") as anonymous:
        response = anonymous.post(
            "/gg/api/ingest/push/nosuchsource",
            content=b"{}\n",
            headers={"Authorization": "Bearer ggs_not-a-real-token", "Content-Type": "application/x-ndjson"},
        )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    assert "push token" in response.json()["error"]["message"]


def drive(streamed: Streamed, *args: Any) -> None:
    """``streamed.run`` in an event loop of its own thread: a browser test earlier in this process leaves
    Playwright's loop marked as running in the main thread (the suite runs in random order)."""
    with ThreadPoolExecutor(max_workers=1) as apart:
        apart.submit(anyio.run, streamed.run, *args).result()


class Streamed:
    """Drives the ASGI app with a request body sent in 1 MB chunks, counting what the app reads."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        # A file part of a multipart form: a parser reads on through the file's bytes.
        self.head = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
        self.read = 0
        self.status: int | None = None
        self.location = ""
        self.body = b""

    async def run(self, app: FastAPI, path: str, headers: dict[str, str], root_path: str = "") -> None:
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "https",
            "path": root_path + path,
            "raw_path": (root_path + path).encode(),
            "root_path": root_path,
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 443),
            "state": {},
        }

        async def receive() -> dict[str, Any]:
            if self.read >= self.chunks:
                return {"type": "http.disconnect"}
            self.read += 1
            body = (self.head if self.read == 1 else b"") + b"x" * MB
            return {"type": "http.request", "body": body, "more_body": self.read < self.chunks}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                headers = dict(message.get("headers", []))
                self.location = headers.get(b"location", b"").decode()
            elif message["type"] == "http.response.body":
                self.body += message.get("body", b"")

        await app(scope, receive, send)


MULTIPART = {"Content-Type": "multipart/form-data; boundary=xyz"}


@pytest.mark.parametrize("root_path", ["", "/gg"])
def test_an_anonymous_upload_is_refused_before_its_body_is_read(app: FastAPI, root_path: str) -> None:
    streamed = Streamed(chunks=30)
    drive(streamed, app, "/api/ingest/uploads", MULTIPART, root_path)
    assert streamed.status == 401
    assert b"unauthenticated" in streamed.body
    assert streamed.read == 0


@pytest.mark.parametrize("root_path", ["", "/gg"])
def test_an_anonymous_post_to_a_page_goes_to_the_login_before_its_body_is_read(
    app: FastAPI, root_path: str
) -> None:
    """The import centre's upload page takes feed-sized files from a logged-in user only: an anonymous post
    is sent to the login page without a byte of its body read."""
    streamed = Streamed(chunks=30)
    drive(streamed, app, "/ingest/sources/any/upload", MULTIPART, root_path)
    assert streamed.status == 303
    assert streamed.location == f"{root_path}/login"
    assert streamed.read == 0


def test_an_anonymous_post_to_a_public_page_gets_the_general_limit_not_the_feed_limit(app: FastAPI) -> None:
    """The public report form is posted without an account: its body is read, up to the general limit
    (20 MB by default), never the 1 GB a logged-in feed upload may send."""
    streamed = Streamed(chunks=30)
    drive(streamed, app, "/report", MULTIPART)
    assert streamed.status == 413, (streamed.read, streamed.body[:300])
    assert 1 <= streamed.read <= 21


def test_wrong_bearer_tokens_count_as_credential_failures(app: FastAPI) -> None:
    """A client guessing API tokens is stopped like one guessing Open311 keys: past the limit on wrong
    credentials the answer is 429 with Retry-After, and a token is not even looked up."""
    from gridgov.core.ratelimit import RateLimiter

    saved = getattr(app.state, "rate_limiter", None)
    app.state.rate_limiter = RateLimiter({"key_failures": "3/minute"}, prefix=f"t-{uuid.uuid4().hex}")
    try:
        with TestClient(app, base_url="https://testserver") as web:
            wrong = {"Authorization": "Bearer ggt_not-a-token"}
            codes = [web.get("/api/me", headers=wrong).status_code for _ in range(3)]
            assert codes == [401, 401, 401]
            refused = web.get("/api/me", headers=wrong)
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) > 0
    finally:
        app.state.rate_limiter = saved


def test_a_logged_in_upload_may_be_larger_than_the_general_limit(
    app: FastAPI, role_tokens: dict[str, str]
) -> None:
    streamed = Streamed(chunks=22)
    headers = {**MULTIPART, "Authorization": f"Bearer {role_tokens['admin']}"}
    drive(streamed, app, "/api/ingest/uploads", headers)
    assert streamed.status == 422  # no source named, no closing boundary: refused for that, once read
    assert streamed.read == 22


def test_versioned_static_files_are_cached_for_a_year(anonymous_client: TestClient) -> None:
    versioned = anonymous_client.get("/static/css/app.css", params={"v": "0.1.0"})
    assert versioned.status_code == 200
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    plain = anonymous_client.get("/static/css/app.css")
    assert plain.status_code == 200
    assert "immutable" not in plain.headers.get("cache-control", "")
    assert "no-cache" in plain.headers["cache-control"]


def test_a_value_the_database_cannot_take_is_the_callers_mistake(client: TestClient, backend: str) -> None:
    """PostgreSQL refuses a NUL character in text (SQLite takes it): a 422, not a server error."""
    response = client.get("/api/audit", params={"actor": "a\x00b"})
    if backend == "postgresql":
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_input"
    else:
        assert response.status_code == 200 and response.json()["entries"] == []


def test_an_unknown_address_in_a_browser_gets_the_chinese_error_page(anonymous_client: TestClient) -> None:
    page = anonymous_client.get("/no-such-page", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN"' in page.text
    assert "没有这个页面" in page.text and "错误 404" in page.text
    api = anonymous_client.get("/api/no-such-route", headers={"Accept": "text/html"})
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"
    script = anonymous_client.get("/no-such-page")
    assert script.json()["error"]["code"] == "not_found"


def test_a_page_that_needs_a_login_redirects_under_the_root_path(app: FastAPI) -> None:
    with TestClient(app, base_url="https://testserver", root_path="/gg") as web:
        response = web.get("/gg/registry", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/gg/login?next=")
