"""Abuse controls: the login lock-out is per account *and* address (not a weapon), unlock by CLI, API and
page; rate limits with Retry-After on the anonymous doors (memory and Redis); tickets of non-public event
classes answer only with the reporter's access code, and a lookup names at most 20 tickets; an unknown
login name costs one password verification like a known one; secrets never reach the access log."""

from __future__ import annotations

import logging
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from gridgov.accounts import service as accounts
from gridgov.accounts.permissions import Role
from gridgov.audit.models import AuditLog
from gridgov.cli.main import app as cli_app
from gridgov.core.db import session_factory
from gridgov.events import open311
from gridgov.events import service as events
from gridgov.events.service import SYSTEM, NewEvent

if TYPE_CHECKING:
    from gridgov.core.ratelimit import RateLimiter

PASSWORD = "correct-horse-42"
WRONG = "wrong-pass-123"
ADDRESS_A = ("198.51.100.7", 40000)
ADDRESS_B = ("203.0.113.9", 40001)
INSIDE = {"lat": "22.530853", "long": "113.9248"}
RUBBISH = "0101"  # 暴露垃圾: urban-management, public
DISPUTE = "0701"  # 邻里纠纷: social governance, not public
HTML = {"Accept": "text/html"}
runner = CliRunner()


def client_at(app: FastAPI, address: tuple[str, int]) -> TestClient:
    return TestClient(app, base_url="https://testserver", client=address)


def make_user(engine: Engine, role: Role = Role.grid_worker) -> tuple[int, str]:
    username = f"abuse.{uuid.uuid4().hex[:10]}"
    with session_factory(engine)() as session:
        user = accounts.create_user(
            session,
            accounts.NewUser(
                username=username,
                password=PASSWORD,
                role=role,
                scope=accounts.parse_scope("community", ["440305007003"]),
            ),
        )
        session.commit()
        return user.id, username


def login(web: TestClient, username: str, password: str) -> Any:
    return web.post("/api/auth/token", json={"username": username, "password": password})


@pytest.fixture
def limiter(app: FastAPI) -> Iterator[Callable[..., RateLimiter]]:
    """``limiter(report="3/minute", ...)``: the app's limits for this test (each its own key prefix);
    the generous test defaults come back afterwards."""
    from gridgov.core.ratelimit import RateLimiter

    before = getattr(app.state, "rate_limiter", None)

    def make(storage_uri: str = "memory://", **limits: str) -> RateLimiter:
        made = RateLimiter(limits, storage_uri=storage_uri, prefix=f"test-{uuid.uuid4().hex}")
        app.state.rate_limiter = made
        return made

    yield make
    app.state.rate_limiter = before


@pytest.fixture(scope="module")
def seeded(engine: Engine) -> str:
    """Categories and units seeded, and an Open311 key."""
    with session_factory(engine)() as session:
        events.seed_org_units(session)
        events.seed_categories(session)
        key = open311.create_key(session, f"abuse-{uuid.uuid4().hex[:8]}")
        session.commit()
    return key


@pytest.fixture(autouse=True)
def _no_real_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr("gridgov.accounts.api._sleep", record, raising=False)
    return waits


# ---------------------------------------------------------------------------------------------------------
# Lock-out per account and address


def test_failures_from_one_address_lock_that_address_only(app: FastAPI, engine: Engine) -> None:
    _user_id, username = make_user(engine, Role.admin)
    attacker, owner = client_at(app, ADDRESS_A), client_at(app, ADDRESS_B)
    codes = [login(attacker, username, WRONG).status_code for _ in range(6)]
    assert codes == [401, 401, 401, 401, 401, 429]
    locked = login(attacker, username, PASSWORD)  # the right password from the attacker's address: refused
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "locked_out"
    assert int(locked.headers["Retry-After"]) > 0
    # The owner, from another address, still logs in.
    assert login(owner, username, PASSWORD).status_code == 200


def test_the_login_page_follows_the_same_rule(app: FastAPI, engine: Engine) -> None:
    _user_id, username = make_user(engine)
    attacker, owner = client_at(app, ADDRESS_A), client_at(app, ADDRESS_B)

    def page_login(web: TestClient, password: str) -> int:
        form = web.get("/login", headers=HTML)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token
        body = {"username": username, "password": password, "csrf_token": token.group(1), "next": "/"}
        return web.post("/login", data=body, headers=HTML, follow_redirects=False).status_code

    assert [page_login(attacker, WRONG) for _ in range(5)] == [401] * 5
    assert page_login(attacker, PASSWORD) == 429
    assert page_login(owner, PASSWORD) == 303


def test_other_addresses_are_slowed_down_not_locked(
    app: FastAPI, engine: Engine, _no_real_waits: list[float]
) -> None:
    _user_id, username = make_user(engine)
    owner = client_at(app, ADDRESS_B)
    assert login(owner, username, PASSWORD).status_code == 200
    assert _no_real_waits == []  # nobody attacked: no wait
    for host in ("192.0.2.1", "192.0.2.2"):
        for _ in range(5):
            login(client_at(app, (host, 1)), username, WRONG)
    _no_real_waits.clear()
    assert login(owner, username, PASSWORD).status_code == 200
    # 10 failures from two other addresses: two steps of half a second before the attempt.
    assert _no_real_waits == [1.0]


def test_an_administrator_unlocks_by_api_and_it_is_audited(
    app: FastAPI, engine: Engine, client: TestClient
) -> None:
    user_id, username = make_user(engine)
    attacker = client_at(app, ADDRESS_A)
    for _ in range(5):
        login(attacker, username, WRONG)
    assert login(attacker, username, PASSWORD).status_code == 429
    unlocked = client.post(f"/api/users/{user_id}/unlock", json={"reason": "owner called"})
    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json()["cleared_addresses"] == 1
    assert login(attacker, username, PASSWORD).status_code == 200
    with session_factory(engine)() as session:
        entry = session.scalars(
            select(AuditLog).where(AuditLog.action == "auth.unlock", AuditLog.object_id == str(user_id))
        ).one()
    assert entry.actor != "anonymous" and entry.reason == "owner called"


def test_a_grid_worker_cannot_unlock(engine: Engine, client_for: Callable[[str], TestClient]) -> None:
    user_id, _username = make_user(engine)
    assert client_for("grid_worker").post(f"/api/users/{user_id}/unlock").status_code == 403


def test_the_users_page_shows_the_lock_and_unlocks(app: FastAPI, engine: Engine, client: TestClient) -> None:
    user_id, username = make_user(engine)
    attacker = client_at(app, ADDRESS_A)
    for _ in range(5):
        login(attacker, username, WRONG)
    page = client.get("/users", headers=HTML)
    assert page.status_code == 200
    assert f'data-username="{username}" data-locked="1"' in page.text
    assert f'action="/users/{user_id}/unlock"' in page.text
    done = client.post(f"/users/{user_id}/unlock", data={"csrf_token": ""}, headers=HTML)
    assert done.status_code == 200 and f'data-username="{username}" data-locked="0"' in done.text
    assert login(attacker, username, PASSWORD).status_code == 200


def test_gridgov_users_unlock(app: FastAPI, engine: Engine, cli_env: None) -> None:
    _user_id, username = make_user(engine)
    attacker = client_at(app, ADDRESS_A)
    for _ in range(5):
        login(attacker, username, WRONG)
    assert login(attacker, username, PASSWORD).status_code == 429
    result = runner.invoke(cli_app, ["users", "unlock", username, "--reason", "phoned the desk"])
    assert result.exit_code == 0, result.output
    assert "unlocked" in result.output
    assert login(attacker, username, PASSWORD).status_code == 200
    assert runner.invoke(cli_app, ["users", "unlock", "no.such.user"]).exit_code == 1


def test_the_client_address_believes_a_header_only_from_a_trusted_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from starlette.requests import Request

    from gridgov.accounts.middleware import client_address
    from gridgov.core.settings import get_settings

    def request(peer: str, forwarded: str) -> Request:
        headers = [(b"x-forwarded-for", forwarded.encode())]
        return Request({"type": "http", "headers": headers, "client": (peer, 1)})

    get_settings.cache_clear()
    try:
        assert client_address(request("10.0.0.2", "1.2.3.4")) == "10.0.0.2"  # default: no header believed
        monkeypatch.setenv("GRIDGOV_TRUSTED_PROXIES", '["10.0.0.0/8"]')
        get_settings.cache_clear()
        assert client_address(request("10.0.0.2", "9.9.9.9, 1.2.3.4, 10.0.0.7")) == "1.2.3.4"
        assert client_address(request("8.8.8.8", "1.2.3.4")) == "8.8.8.8"  # not a trusted peer
    finally:
        monkeypatch.delenv("GRIDGOV_TRUSTED_PROXIES")
        get_settings.cache_clear()


# ---------------------------------------------------------------------------------------------------------
# One password verification for every attempt


def test_unknown_disabled_and_locked_names_cost_one_verification(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = accounts._hasher

    class Spy:
        """The module's hasher, counting verifications."""

        def verify(self, hashed: str, password: str) -> bool:
            calls.append(hashed)
            return bool(real.verify(hashed, password))

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(accounts, "_hasher", Spy())
    _user_id, disabled = make_user(engine)
    with session_factory(engine)() as session:
        accounts.set_active(session, accounts.get_user_by_name(session, disabled), False)
        session.commit()
    _user_id, known = make_user(engine)
    for name in (f"nobody.{uuid.uuid4().hex[:8]}", disabled, known):
        calls.clear()
        with session_factory(engine)() as session, pytest.raises(accounts.InvalidCredentials):
            accounts.authenticate(session, name, WRONG)
        assert len(calls) == 1, name
    with session_factory(engine)() as session:
        for _ in range(5):
            with pytest.raises(accounts.InvalidCredentials):
                accounts.authenticate(session, known, WRONG)
        calls.clear()
        with pytest.raises(accounts.LockedOut):
            accounts.authenticate(session, known, PASSWORD)
        assert len(calls) == 1


# ---------------------------------------------------------------------------------------------------------
# Rate limits


def _retry_after(response: Any) -> int:
    return int(response.headers["Retry-After"])


@pytest.mark.usefixtures("seeded")
def test_public_reports_are_rate_limited_per_client(
    app: FastAPI, limiter: Callable[..., RateLimiter]
) -> None:
    limiter(report="3/minute")
    web, other = client_at(app, ADDRESS_A), client_at(app, ADDRESS_B)
    answers = [web.post("/report", data={"title": "x"}, headers=HTML) for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [403, 403, 403]  # no CSRF cookie: refused, but counted
    assert answers[3].status_code == 429 and 0 < _retry_after(answers[3]) <= 60
    assert other.post("/report", data={"title": "x"}, headers=HTML).status_code == 403  # its own count


def test_open311_posts_reads_and_bad_keys_are_rate_limited(
    app: FastAPI, seeded: str, limiter: Callable[..., RateLimiter]
) -> None:
    limiter(open311_post="2/minute")
    web = client_at(app, ADDRESS_A)
    body = {"api_key": seeded, "service_code": RUBBISH, "description": "垃圾", **INSIDE}
    codes = [web.post("/open311/v2/requests.json", data=body) for _ in range(3)]
    assert [c.status_code for c in codes] == [200, 200, 429]
    assert codes[2].json()[0]["code"] == 429 and _retry_after(codes[2]) > 0

    limiter(key_failures="3/minute")
    bad = [web.post("/open311/v2/requests.json", data={**body, "api_key": "guess"}) for _ in range(4)]
    assert [b.status_code for b in bad] == [403, 403, 403, 429]
    assert web.post("/open311/v2/requests.json", data=body).status_code == 429  # even a good key, for now
    assert client_at(app, ADDRESS_B).post("/open311/v2/requests.json", data=body).status_code == 200

    limiter(open311_get="2/minute")
    reads = [web.get("/open311/v2/requests.json") for _ in range(3)]
    assert [r.status_code for r in reads] == [200, 200, 429]
    assert web.get("/open311/v2/requests/NS000000ZZZZZZ.xml").status_code == 429
    assert web.get("/open311/v2/tokens/NS000000ZZZZZZ.json").status_code == 429


def test_token_logins_are_rate_limited(
    app: FastAPI, engine: Engine, limiter: Callable[..., RateLimiter]
) -> None:
    limiter(login="3/minute")
    _user_id, username = make_user(engine)
    web = client_at(app, ADDRESS_A)
    codes = [login(web, f"nobody.{i}", WRONG).status_code for i in range(3)]
    assert codes == [401, 401, 401]
    refused = login(web, username, PASSWORD)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert _retry_after(refused) > 0


def _redis_is_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


REDIS_MISSING = "Redis is not running at 127.0.0.1:6379: the rate-limit tests on Redis are skipped"


@pytest.mark.parametrize("storage", ["memory://", "redis://127.0.0.1:6379"])
def test_the_limiter_counts_per_client_and_resets(storage: str, require: Callable[[bool, str], None]) -> None:
    from gridgov.core.ratelimit import RateLimited, RateLimiter

    if storage.startswith("redis"):
        require(_redis_is_up(), REDIS_MISSING)

    prefix = f"test-{uuid.uuid4().hex}"
    limiter = RateLimiter({"report": "2/minute"}, storage_uri=storage, prefix=prefix)
    try:
        limiter.hit("report", "a")
        limiter.hit("report", "a")
        with pytest.raises(RateLimited) as refused:
            limiter.hit("report", "a")
        assert 0 < refused.value.retry_after <= 60
        limiter.hit("report", "b")  # another client
        limiter.check("report", "b")  # one left for b: check counts nothing
        limiter.hit("report", "b")
        with pytest.raises(RateLimited):
            limiter.check("report", "b")
        # Another limiter with another prefix on the same storage keeps its own counts.
        RateLimiter({"report": "2/minute"}, storage_uri=storage, prefix=f"{prefix}-x").hit("report", "a")
    finally:
        limiter.reset()
    limiter.hit("report", "a")


def test_limits_come_from_the_settings(
    monkeypatch: pytest.MonkeyPatch, require: Callable[[bool, str], None]
) -> None:
    from gridgov.core.ratelimit import RateLimited, RateLimiter
    from gridgov.core.settings import Settings

    require(_redis_is_up(), REDIS_MISSING)

    monkeypatch.setenv("GRIDGOV_RATE_LIMITS_REPORT", "1/hour")
    monkeypatch.setenv("GRIDGOV_REDIS_URL", "redis://127.0.0.1:6379")
    monkeypatch.setenv("GRIDGOV_RATE_LIMIT_PREFIX", f"test-{uuid.uuid4().hex}")
    limiter = RateLimiter.from_settings(Settings())
    try:
        assert type(limiter.storage).__name__ == "RedisStorage"
        limiter.hit("report", "a")
        with pytest.raises(RateLimited) as refused:
            limiter.hit("report", "a")
        assert refused.value.retry_after > 60  # an hour's window
    finally:
        limiter.reset()


# ---------------------------------------------------------------------------------------------------------
# Tickets: at most 20 per lookup; non-public classes only with the access code


def _post311(web: TestClient, key: str, code: str) -> dict[str, Any]:
    body = {"api_key": key, "service_code": code, "description": "楼上漏水，协商不成", **INSIDE}
    response = web.post("/open311/v2/requests.json", data=body)
    assert response.status_code == 200, response.text
    [row] = response.json()
    return dict(row)


def test_a_lookup_names_at_most_20_tickets(anonymous_client: TestClient, seeded: str) -> None:
    many = ",".join(f"NS261207{i:06d}" for i in range(21))
    answer = anonymous_client.get("/open311/v2/requests.json", params={"service_request_id": many})
    assert answer.status_code == 400
    [error] = answer.json()
    assert error["code"] == 400 and "20" in error["description"]
    twenty = ",".join(f"NS261207{i:06d}" for i in range(20))
    assert (
        anonymous_client.get("/open311/v2/requests.json", params={"service_request_id": twenty}).status_code
        == 200
    )


def test_a_social_request_answers_only_with_its_access_code(
    anonymous_client: TestClient, seeded: str
) -> None:
    filed = _post311(anonymous_client, seeded, DISPUTE)
    ticket, code = filed["service_request_id"], filed["access_code"]
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", code) and code in filed["service_notice"]
    base = "/open311/v2"

    def listed(**params: str) -> list[str]:
        answer = anonymous_client.get(
            f"{base}/requests.json", params={"service_request_id": ticket, **params}
        )
        assert answer.status_code == 200
        return [r["service_request_id"] for r in answer.json()]

    assert listed() == []
    assert listed(access_code="AAAA-AAAA") == []
    assert listed(access_code=code) == [ticket]
    assert listed(access_code=code.replace("-", "").lower()) == [ticket]  # as typed off a receipt
    assert anonymous_client.get(f"{base}/requests/{ticket}.json").status_code == 404
    assert (
        anonymous_client.get(f"{base}/requests/{ticket}.json", params={"access_code": code}).status_code
        == 200
    )
    assert anonymous_client.get(f"{base}/tokens/{ticket}.json").status_code == 404
    # A public (urban-management) request still answers by ticket alone.
    public = _post311(anonymous_client, seeded, RUBBISH)["service_request_id"]
    assert anonymous_client.get(f"{base}/requests/{public}.json").status_code == 200


def test_the_access_code_is_stored_hashed(anonymous_client: TestClient, seeded: str, engine: Engine) -> None:
    from gridgov.events.models import Event

    filed = _post311(anonymous_client, seeded, DISPUTE)
    with session_factory(engine)() as session:
        event = session.scalars(select(Event).where(Event.ticket == filed["service_request_id"])).one()
        assert event.access_code_hash and len(event.access_code_hash) == 64
        assert filed["access_code"].replace("-", "") not in event.access_code_hash


@pytest.mark.usefixtures("seeded")
def test_the_receipt_prints_the_access_code_and_the_ticket_page_needs_it(
    anonymous_client: TestClient,
) -> None:
    page = anonymous_client.get("/report", headers=HTML)
    hidden = dict(re.findall(r'name="(csrf_token|idempotency_key)" value="([^"]*)"', page.text))
    body = {
        **hidden,
        "subtype_code": DISPUTE,
        "title": f"邻里纠纷 {uuid.uuid4().hex[:6]}",
        "lon": INSIDE["long"],
        "lat": INSIDE["lat"],
    }
    receipt = anonymous_client.post("/report", data=body, headers=HTML)
    assert receipt.status_code == 200, receipt.text
    ticket = re.search(r'id="report-ticket">([0-9A-Z]+)<', receipt.text)
    code = re.search(r'id="report-access-code">([A-Z2-9-]+)<', receipt.text)
    assert ticket and code
    without = anonymous_client.get(f"/report/{ticket.group(1)}", headers=HTML)
    assert without.status_code == 404 and body["title"] not in without.text
    wrong = anonymous_client.get(f"/report/{ticket.group(1)}?access_code=ZZZZ-ZZZZ", headers=HTML)
    assert wrong.status_code == 404 and body["title"] not in wrong.text
    right = anonymous_client.get(
        f"/report/{ticket.group(1)}", params={"access_code": code.group(1)}, headers=HTML
    )
    assert right.status_code == 200 and body["title"] in right.text


def test_which_classes_are_public_is_configurable() -> None:
    from gridgov.events.access import is_public
    from gridgov.events.models import EventCategory

    dispute = EventCategory(code="0701", major_code="07", domain="social")
    rubbish = EventCategory(code="0101", major_code="01", domain="urban")
    assert is_public(rubbish, ["urban"]) and not is_public(dispute, ["urban"])
    assert is_public(dispute, ["urban", "07"]) and is_public(dispute, ["0701"])
    assert not is_public(rubbish, ["social"])


def test_a_desk_filed_social_event_has_no_public_page(anonymous_client: TestClient, engine: Engine) -> None:
    with session_factory(engine)() as session:
        events.seed_org_units(session)
        events.seed_categories(session)
        event, _ = events.submit(
            session,
            NewEvent(subtype_code=DISPUTE, title="台账纠纷", lon=113.9248, lat=22.530853),
            actor=SYSTEM,
        )
        session.commit()
        ticket = event.ticket
    assert anonymous_client.get(f"/report/{ticket}", headers=HTML).status_code == 404


# ---------------------------------------------------------------------------------------------------------
# The access log


def _access_record(path: str) -> logging.LogRecord:
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", path, "1.1", 200),
        None,
    )


def test_secret_query_parameters_are_blanked_in_the_access_log() -> None:
    from gridgov.core.accesslog import SecretQueryFilter

    record = _access_record("/open311/v2/requests.json?api_key=SeCrEt123&service_code=0101&access_code=AB-CD")
    assert SecretQueryFilter().filter(record)
    line = record.getMessage()
    assert "SeCrEt123" not in line and "AB-CD" not in line
    assert "api_key=***" in line and "service_code=0101" in line and "access_code=***" in line
    plain = _access_record("/report?x=1")
    SecretQueryFilter().filter(plain)
    assert plain.getMessage() == '127.0.0.1:5000 - "POST /report?x=1 HTTP/1.1" 200'


def test_gridgov_serve_installs_the_filter_in_uvicorns_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setenv("GRIDGOV_RUN_JOBS", "0")  # the command sets it: restored afterwards
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    assert runner.invoke(cli_app, ["serve", "--no-jobs"]).exit_code == 0
    config = seen["log_config"]
    names = config["loggers"]["uvicorn.access"]["filters"]
    [factory] = [config["filters"][name]["()"] for name in names]
    module, _, cls = factory.rpartition(".")
    installed = getattr(importlib.import_module(module), cls)()
    record = _access_record("/open311/v2/requests.json?api_key=SeCrEt123")
    installed.filter(record)
    assert "SeCrEt123" not in record.getMessage()
