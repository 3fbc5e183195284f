"""Accounts: login, lock-out, tokens, sessions with CSRF, scoped users, masking, reveal, export, hardening."""

from __future__ import annotations

import csv
import io
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from gridgov.accounts import service
from gridgov.accounts.models import ApiToken, UserAccount
from gridgov.accounts.permissions import Role
from gridgov.core import clock
from gridgov.core.db import session_factory
from gridgov.demo.accounts import DemoAccount

PASSWORD = "correct-horse-42"
PHONE = "13912345678"


def make_user(
    engine: Engine,
    role: Role = Role.grid_worker,
    level: str = "community",
    codes: tuple[str, ...] = ("440305007003",),
    phone: str | None = PHONE,
) -> str:
    username = f"t.{uuid.uuid4().hex[:10]}"
    with session_factory(engine)() as session:
        service.create_user(
            session,
            service.NewUser(
                username=username,
                password=PASSWORD,
                role=role,
                scope=service.parse_scope(level, list(codes)),
                phone=phone,
            ),
        )
        session.commit()
    return username


def token_for(anonymous_client: TestClient, username: str, password: str = PASSWORD) -> str:
    response = anonymous_client.post("/api/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_login_and_me_show_role_and_scope(engine: Engine, anonymous_client: TestClient) -> None:
    username = make_user(engine)
    token = token_for(anonymous_client, username)
    assert token.startswith("ggv_")
    me = anonymous_client.get("/api/me", headers=bearer(token)).json()
    assert me["username"] == username and me["role"] == "grid_worker"
    assert me["scope"] == {"level": "community", "codes": ["440305007003"]}
    assert "areas.read" in me["permissions"] and "users.manage" not in me["permissions"]
    # An OAuth2-style form works too.
    form = anonymous_client.post("/api/auth/token", data={"username": username, "password": PASSWORD})
    assert form.status_code == 200
    # The token is stored only as a digest.
    with session_factory(engine)() as session:
        stored = session.scalars(select(ApiToken.secret_hash)).all()
    assert token not in stored and all(len(h) == 64 for h in stored)


def test_six_wrong_passwords_lock_the_account_for_15_minutes(
    engine: Engine, anonymous_client: TestClient
) -> None:
    username = make_user(engine)
    start = clock.now()
    with clock.use_clock(clock.FrozenClock(start)) as frozen:
        codes = [
            anonymous_client.post("/api/auth/token", json={"username": username, "password": "wrong-pass-1"})
            for _ in range(6)
        ]
        assert [r.status_code for r in codes] == [401] * 5 + [429]
        assert "locked" in codes[-1].json()["error"]["message"]
        assert codes[-1].json()["error"]["code"] == "locked_out"
        # Even the right password is refused while locked.
        right = anonymous_client.post("/api/auth/token", json={"username": username, "password": PASSWORD})
        assert right.status_code == 429
        assert isinstance(frozen, clock.FrozenClock)
        frozen.advance(minutes=16)
        assert (
            anonymous_client.post(
                "/api/auth/token", json={"username": username, "password": PASSWORD}
            ).status_code
            == 200
        )


def test_unknown_usernames_lock_too_so_names_cannot_be_probed(anonymous_client: TestClient) -> None:
    name = f"nobody.{uuid.uuid4().hex[:8]}"
    statuses = [
        anonymous_client.post("/api/auth/token", json={"username": name, "password": "x" * 12}).status_code
        for _ in range(6)
    ]
    assert statuses == [401] * 5 + [429]


def test_tokens_expire_can_be_revoked_and_carry_no_more_than_asked(
    engine: Engine, anonymous_client: TestClient
) -> None:
    username = make_user(engine, role=Role.community_staff)
    token = token_for(anonymous_client, username)
    narrow = anonymous_client.post(
        "/api/me/tokens",
        headers=bearer(token),
        json={"name": "map kiosk", "permissions": ["areas.read"], "expires_days": 1},
    )
    assert narrow.status_code == 201
    narrow_token = narrow.json()["access_token"]
    assert anonymous_client.get("/api/areas", headers=bearer(narrow_token)).status_code == 200
    assert anonymous_client.get("/api/users", headers=bearer(narrow_token)).status_code == 403
    # A narrow token cannot mint a broader one, and nobody can exceed their role.
    broader = anonymous_client.post(
        "/api/me/tokens", headers=bearer(narrow_token), json={"name": "x", "permissions": ["users.read"]}
    )
    assert broader.status_code == 403
    beyond = anonymous_client.post(
        "/api/me/tokens", headers=bearer(token), json={"name": "x", "permissions": ["users.manage"]}
    )
    assert beyond.status_code == 403
    listed = anonymous_client.get("/api/me/tokens", headers=bearer(token)).json()
    assert all("access_token" not in t for t in listed) and len(listed) >= 2
    with clock.use_clock(clock.FrozenClock(clock.now() + timedelta(days=2))):
        expired = anonymous_client.get("/api/me", headers=bearer(narrow_token))
        assert expired.status_code == 401 and expired.json()["error"]["code"] == "invalid_token"
    token_id = next(t["id"] for t in listed if t["name"] == "map kiosk")
    assert anonymous_client.delete(f"/api/me/tokens/{token_id}", headers=bearer(token)).status_code == 200
    assert anonymous_client.get("/api/me", headers=bearer(narrow_token)).status_code == 401


def test_a_resolved_token_is_trusted_for_a_few_seconds_and_forgotten_on_any_account_change(
    engine: Engine, anonymous_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    username = make_user(engine)
    token = token_for(anonymous_client, username)
    assert anonymous_client.get("/api/me", headers=bearer(token)).status_code == 200
    assert service.recently_resolved_token(token) is not None
    # Revoked behind this process's back (as another server process would): trusted until the time is up.
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE api_token SET revoked_at = :now WHERE secret_hash = :digest"),
            {"now": clock.now(), "digest": service._digest(token)},
        )
    assert anonymous_client.get("/api/me", headers=bearer(token)).status_code == 200
    later = service._seconds() + 6  # token_cache_seconds is 5 by default
    monkeypatch.setattr(service, "_seconds", lambda: later)
    assert anonymous_client.get("/api/me", headers=bearer(token)).status_code == 401
    monkeypatch.undo()

    # A change to any account through this process forgets every token it trusted.
    other = token_for(anonymous_client, make_user(engine))
    assert anonymous_client.get("/api/me", headers=bearer(other)).status_code == 200
    assert service.recently_resolved_token(other) is not None
    with session_factory(engine)() as session:
        user = session.scalars(select(UserAccount).where(UserAccount.username == username)).one()
        user.display_name = "改名"
        session.commit()
    assert service.recently_resolved_token(other) is None


def test_web_login_sets_a_secure_session_and_forms_need_csrf(engine: Engine, app: object) -> None:
    username = make_user(engine)
    with TestClient(app, base_url="https://testserver") as browser:  # type: ignore[arg-type]
        anonymous_map = browser.get("/map", follow_redirects=False, headers={"Accept": "text/html"})
        assert anonymous_map.status_code == 303 and anonymous_map.headers["location"] == "/login?next=%2Fmap"
        page = browser.get("/login?next=/map")
        assert page.status_code == 200 and "登录" in page.text
        forged = browser.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf_token": "forged", "next": "/map"},
            follow_redirects=False,
        )
        assert forged.status_code == 403
        csrf = browser.cookies.get("gridgov_login_csrf")
        assert csrf
        login = browser.post(
            "/login",
            data={
                "username": username,
                "password": PASSWORD,
                "csrf_token": csrf,
                "next": "https://evil.example/",
            },
            follow_redirects=False,
        )
        assert login.status_code == 303 and login.headers["location"] == "/"  # no open redirect
        cookie = login.headers["set-cookie"].lower()
        assert "gridgov_session=" in cookie and "httponly" in cookie and "secure" in cookie
        assert "samesite=lax" in cookie
        assert browser.get("/map").status_code == 200
        me = browser.get("/api/me").json()
        assert me["via"] == "session" and me["csrf_token"]
        # Cookie-authenticated unsafe API calls must echo the CSRF token.
        assert browser.post("/api/me/tokens", json={"name": "x"}).status_code == 403
        ok = browser.post("/api/me/tokens", json={"name": "x"}, headers={"X-CSRF-Token": me["csrf_token"]})
        assert ok.status_code == 201
        logout = browser.post("/logout", data={"csrf_token": me["csrf_token"]}, follow_redirects=False)
        assert logout.status_code == 303
        assert browser.get("/api/me").status_code == 401


def test_users_are_scoped_and_phones_masked(
    engine: Engine, client_for: Callable[[str], TestClient], demo_accounts: dict[str, DemoAccount]
) -> None:
    make_user(engine, role=Role.grid_worker, level="grids", codes=("440305007003001",))
    admin_view = client_for("admin").get("/api/users").json()
    assert len(admin_view) >= 8
    assert all(u["phone"] is None or "****" in u["phone"] for u in admin_view)
    community_view = client_for("community_staff").get("/api/users").json()
    assert {u["username"] for u in community_view} >= {"demo.community", "demo.grid"}
    assert "demo.admin" not in {u["username"] for u in community_view}
    admin_id = next(u["id"] for u in admin_view if u["username"] == "demo.admin")
    assert client_for("community_staff").get(f"/api/users/{admin_id}").status_code == 404
    assert client_for("grid_worker").get("/api/users").status_code == 403


def test_reveal_needs_permission_reason_and_scope_and_is_audited(
    engine: Engine, client_for: Callable[[str], TestClient]
) -> None:
    username = make_user(engine, role=Role.grid_worker, level="grids", codes=("440305007003002",))
    with session_factory(engine)() as session:
        user_id = service.get_user_by_name(session, username).id
    staff = client_for("community_staff")
    assert staff.get(f"/api/users/{user_id}").json()["phone"] == "139****5678"
    no_reason = staff.post(f"/api/users/{user_id}/reveal", json={"field": "phone", "reason": " "})
    assert no_reason.status_code == 422
    revealed = staff.post(
        f"/api/users/{user_id}/reveal", json={"field": "phone", "reason": "核实网格员联系方式"}
    )
    assert revealed.status_code == 200 and revealed.json()["value"] == PHONE
    assert (
        client_for("grid_worker")
        .post(f"/api/users/{user_id}/reveal", json={"field": "phone", "reason": "curious"})
        .status_code
        == 403
    )
    with session_factory(engine)() as session:
        entry = session.execute(
            text(
                "SELECT actor, reason, object_id FROM audit_log "
                "WHERE action = 'personal.reveal' ORDER BY id DESC"
            )
        ).first()
    assert entry is not None and entry.actor == "demo.community" and entry.reason == "核实网格员联系方式"
    assert entry.object_id == str(user_id)


def test_exports_are_masked_unless_the_exporter_may_reveal(client_for: Callable[[str], TestClient]) -> None:
    masked = client_for("auditor").get("/api/users/export.csv")
    assert masked.status_code == 200
    rows = list(csv.DictReader(io.StringIO(masked.text.lstrip("\ufeff"))))
    assert rows and all(r["phone"] == "" or "****" in r["phone"] for r in rows)
    needs_reason = client_for("district_operator").get("/api/users/export.csv")
    assert needs_reason.status_code == 422
    clear = client_for("district_operator").get("/api/users/export.csv", params={"reason": "季度人员核对"})
    phones = [r["phone"] for r in csv.DictReader(io.StringIO(clear.text.lstrip("\ufeff"))) if r["phone"]]
    assert phones and all("*" not in p and len(p) == 11 for p in phones)


def test_phone_is_encrypted_at_rest_with_a_lookup_hash(engine: Engine) -> None:
    username = make_user(engine, phone="+86 139-8765-4321")
    with session_factory(engine)() as session:
        raw = session.execute(
            text("SELECT phone_encrypted, phone_hash FROM user_account WHERE username = :u"), {"u": username}
        ).one()
        assert "13987654321" not in raw.phone_encrypted and raw.phone_hash
        found = service.find_user_by_phone(session, "13987654321")
        assert found is not None and found.username == username


def test_disabled_accounts_lose_their_tokens(engine: Engine, anonymous_client: TestClient) -> None:
    username = make_user(engine)
    token = token_for(anonymous_client, username)
    with session_factory(engine)() as session:
        service.set_active(session, service.get_user_by_name(session, username), False)
        session.commit()
    assert anonymous_client.get("/api/me", headers=bearer(token)).status_code == 401
    again = anonymous_client.post("/api/auth/token", json={"username": username, "password": PASSWORD})
    assert again.status_code == 401


def test_bad_account_input_is_refused_clearly(engine: Engine, client: TestClient) -> None:
    base = {
        "username": "new.person",
        "password": PASSWORD,
        "role": "grid_worker",
        "scope_level": "community",
        "scope_codes": ["440305007003"],
    }
    for change, words in (
        ({"username": "X"}, "username"),
        ({"password": "short"}, "at least"),
        ({"scope_codes": ["440305099999"]}, "community"),
        ({"phone": "12345"}, "mobile number"),
        ({"role": "king"}, ""),
    ):
        response = client.post("/api/users", json={**base, **change})
        assert response.status_code in (404, 422), (change, response.text)
        assert words.lower() in response.text.lower()


def test_personal_data_never_reaches_the_logs(
    engine: Engine, client_for: Callable[[str], TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret_phone = "13700001111"
    admin = client_for("admin")
    admin.post(
        "/api/users",
        json={
            "username": f"log.{uuid.uuid4().hex[:6]}",
            "password": PASSWORD,
            "role": "grid_worker",
            "scope_level": "community",
            "scope_codes": ["440305007003"],
            "phone": secret_phone,
        },
    )
    admin.post(
        "/api/users",
        json={
            "username": "bad phone",
            "password": PASSWORD,
            "role": "grid_worker",
            "scope_level": "community",
            "scope_codes": ["440305007003"],
            "phone": "1370000111",
        },
    )
    users = admin.get("/api/users").json()
    target = next(u for u in users if u["phone"] == "137****1111")
    admin.post(f"/api/users/{target['id']}/reveal", json={"field": "phone", "reason": "log test"})
    assert secret_phone not in caplog.text and "1370000111" not in caplog.text
    with session_factory(engine)() as session:
        audit_text = " ".join(str(r) for r in session.execute(text("SELECT * FROM audit_log")).all())
    assert secret_phone not in audit_text


def test_hardening_headers_cors_and_body_limit(client: TestClient, anonymous_client: TestClient) -> None:
    page = anonymous_client.get("/login")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    preflight = anonymous_client.options(
        "/api/areas", headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    huge = client.post(
        "/api/auth/token", content=b"x" * (21 * 1024 * 1024), headers={"Content-Type": "application/json"}
    )
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "too_large"
    missing = anonymous_client.get("/api/nowhere")
    assert missing.json() == {"error": {"code": "not_found", "message": "Not Found"}}


def test_demo_accounts_cover_every_role_with_real_scopes(demo_accounts: dict[str, DemoAccount]) -> None:
    assert set(demo_accounts) == {r.value for r in Role}
    assert demo_accounts["street_operator"].scope == {"level": "street", "codes": ["440305007000"]}
    assert demo_accounts["community_staff"].scope == {"level": "community", "codes": ["440305007003"]}
    grid_codes = demo_accounts["grid_worker"].scope["codes"]
    assert isinstance(grid_codes, list) and all(str(c).startswith("440305007003") for c in grid_codes)


def test_user_rows_hold_no_plaintext_passwords(engine: Engine, demo_accounts: dict[str, DemoAccount]) -> None:
    with session_factory(engine)() as session:
        hashes = session.scalars(select(UserAccount.password_hash)).all()
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert not any(a.password in h for a in demo_accounts.values() for h in hashes)


def test_server_faults_answer_uniformly_without_internals(
    engine: Engine, role_tokens: dict[str, str]
) -> None:
    from gridgov.web.app import create_app

    app = create_app(engine)

    @app.get("/api/boom", openapi_extra={"x-scope": "reference"})
    def boom() -> None:
        raise RuntimeError("connection string postgresql://secret@db/prod")

    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as test_client:
        response = test_client.get("/api/boom", headers=bearer(role_tokens["admin"]))
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal", "message": "Something went wrong on the server; it has been logged"}
    }
    assert "secret" not in response.text


def test_malformed_token_requests_get_a_clear_422(anonymous_client: TestClient) -> None:
    for kwargs in (
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        {"json": {"username": "someone"}},
        {"json": [1, 2]},
        {"data": {"username": "someone"}},
    ):
        response = anonymous_client.post("/api/auth/token", **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 422, kwargs
        assert response.json()["error"]["code"] == "invalid_input"
