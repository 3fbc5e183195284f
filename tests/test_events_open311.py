"""Open311 GeoReport v2 at /open311/v2/: services, requests, tokens, JSON and XML, errors per the spec,
keys and their command line (both backends)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from xml.etree import ElementTree as ET

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from gridgov.areas.scope import WHOLE_DISTRICT
from gridgov.cli.main import app as cli_app
from gridgov.core.clock import FrozenClock, get_clock, use_clock
from gridgov.core.db import session_factory
from gridgov.events import open311, service
from gridgov.events.models import Event, Open311Key
from gridgov.events.service import Actor, NewEvent
from gridgov.events.workflow import Action

BASE = "/open311/v2"
INSIDE = {"lat": "22.530853", "long": "113.9248"}  # 南山社区 (440305002007)
HONG_KONG = {"lat": "22.3193", "long": "114.1694"}
RUBBISH = "0101"  # 暴露垃圾 (urban)
DISPUTE = "0701"  # 邻里纠纷 (social: not in the public list)
runner = CliRunner()


@pytest.fixture(scope="module")
def api_key(engine: Engine) -> str:
    """Categories and org units seeded (committed) and one Open311 key for the tests."""
    with session_factory(engine)() as session:
        service.seed_org_units(session)
        service.seed_categories(session)
        key = open311.create_key(session, f"tests-{uuid.uuid4().hex[:8]}")
        session.commit()
    return key


@pytest.fixture
def web(anonymous_client: TestClient, api_key: str) -> TestClient:
    """No session cookie, no bearer token: what an Open311 client looks like."""
    anonymous_client.cookies.clear()
    return anonymous_client


def _post(web: TestClient, api_key: str, fmt: str = "json", **fields: str) -> tuple[int, bytes, str]:
    data = {
        "api_key": api_key,
        "service_code": RUBBISH,
        "description": "小区门口垃圾堆积\n已经三天",
        **INSIDE,
    }
    data.update(fields)
    response = web.post(f"{BASE}/requests.{fmt}", data={k: v for k, v in data.items() if v is not None})
    return response.status_code, response.content, response.headers.get("content-type", "")


def _file(web: TestClient, api_key: str, **fields: str) -> str:
    status, body, _ = _post(web, api_key, **fields)
    assert status == 200, body
    [answer] = json.loads(body)
    assert answer["account_id"] is None and answer["service_request_id"] in answer["service_notice"]
    return str(answer["service_request_id"])


def test_every_open311_route_is_declared_public(app: FastAPI) -> None:
    paths = [r for r in open311.router.routes]
    assert len(paths) == 6
    for route in paths:
        assert (getattr(route, "openapi_extra", None) or {}).get("x-scope") == "public"


def test_services_json_and_xml(web: TestClient) -> None:
    response = web.get(f"{BASE}/services.json")
    assert response.status_code == 200
    services = response.json()
    assert len(services) >= 50
    rubbish = next(s for s in services if s["service_code"] == RUBBISH)
    assert rubbish["service_name"] == "暴露垃圾" and rubbish["group"] == "市容环境"
    assert rubbish["metadata"] is False and rubbish["type"] == "realtime"
    assert "Exposed rubbish" in rubbish["keywords"] and "4 个工作小时" in rubbish["description"]

    xml = web.get(f"{BASE}/services.xml")
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("text/xml")
    assert xml.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(xml.content)
    assert root.tag == "services"
    items = root.findall("service")
    assert len(items) == len(services)
    first = items[0]
    assert [child.tag for child in first] == [
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    ]
    assert first.findtext("metadata") == "false"

    assert web.get(f"{BASE}/services.html").status_code == 400


def test_service_definition(web: TestClient) -> None:
    response = web.get(f"{BASE}/services/{RUBBISH}.json")
    assert response.status_code == 200
    assert response.json() == {"service_code": RUBBISH, "attributes": []}
    xml = ET.fromstring(web.get(f"{BASE}/services/{RUBBISH}.xml").content)
    assert xml.tag == "service_definition" and xml.findtext("service_code") == RUBBISH
    missing = web.get(f"{BASE}/services/9999.json")
    assert missing.status_code == 404
    assert missing.json()[0]["code"] == 404


def test_post_form_encoded_then_read_it_back(web: TestClient, api_key: str, engine: Engine) -> None:
    ticket = _file(web, api_key, first_name="王", last_name="女士", phone="13812345678", email="w@example.cn")
    response = web.get(f"{BASE}/requests/{ticket}.json")
    assert response.status_code == 200
    [request] = response.json()
    assert request["service_request_id"] == ticket
    assert request["status"] == "open" and request["service_code"] == RUBBISH
    assert request["service_name"] == "暴露垃圾"
    assert request["status_notes"].startswith("已上报")
    assert request["description"].startswith("小区门口垃圾堆积")
    assert request["lat"] == pytest.approx(22.530853) and request["long"] == pytest.approx(113.9248)
    assert request["requested_datetime"].endswith("+08:00") and request["expected_datetime"] is None
    assert request["address"].startswith("南山区") and request["media_url"] is None
    assert "13812345678" not in response.text and "王" not in response.text  # reporter never shown
    with session_factory(engine)() as session:
        event = service.get_event(session, ticket, scope=WHOLE_DISTRICT)
        assert event.channel == "public" and event.title == "小区门口垃圾堆积"
        assert event.reporter_name == "王 女士" and event.reporter_phone not in (None, "13812345678")
        assert service.timeline(session, event)[0].actor_name.startswith("open311:tests-")

    xml = ET.fromstring(web.get(f"{BASE}/requests/{ticket}.xml").content)
    assert xml.tag == "service_requests"
    [item] = xml.findall("request")
    assert item.findtext("service_request_id") == ticket and item.findtext("status") == "open"
    assert item.find("media_url") is not None and item.findtext("media_url") == ""

    token = web.get(f"{BASE}/tokens/{ticket}.json")
    assert token.status_code == 200 and token.json() == [{"service_request_id": ticket, "token": ticket}]
    token_xml = ET.fromstring(web.get(f"{BASE}/tokens/{ticket}.xml").content)
    assert token_xml.tag == "service_requests" and token_xml.findtext("request/token") == ticket


def test_post_json_xml_answer_media_url_and_address(web: TestClient, api_key: str, engine: Engine) -> None:
    response = web.post(
        f"{BASE}/requests.json",
        json={
            "api_key": api_key,
            "service_code": RUBBISH,
            "lat": 22.530853,
            "long": 113.9248,
            "description": "垃圾",
            "media_url": "https://example.cn/p.jpg",
        },
    )
    assert response.status_code == 200, response.text
    ticket = response.json()[0]["service_request_id"]
    with session_factory(engine)() as session:
        assert (
            "https://example.cn/p.jpg" in service.get_event(session, ticket, scope=WHOLE_DISTRICT).description
        )

    status, body, content_type = _post(web, api_key, "xml")
    assert status == 200 and content_type.startswith("text/xml")
    root = ET.fromstring(body)
    assert root.tag == "service_requests"
    assert [c.tag for c in root.find("request") or []] == [
        "service_request_id",
        "service_notice",
        "account_id",
        "access_code",
    ]


def test_missing_or_bad_key_is_403_in_the_spec_shape(web: TestClient, api_key: str) -> None:
    with_none = web.post(f"{BASE}/requests.json", data={"service_code": RUBBISH, **INSIDE})
    assert with_none.status_code == 403
    [error] = with_none.json()
    assert error["code"] == 403 and "api_key" in error["description"]
    status, body, _ = _post(web, "not-a-key", "xml")
    assert status == 403
    root = ET.fromstring(body)
    assert root.tag == "errors" and root.findtext("error/code") == "403"
    assert root.findtext("error/description")


def test_bad_input_is_400(web: TestClient, api_key: str) -> None:
    status, body, _ = _post(web, api_key, **HONG_KONG)
    assert status == 400
    [error] = json.loads(body)
    assert error["code"] == 400 and "outside Nanshan district" in error["description"]
    for fields in ({"service_code": "9999"}, {"lat": "north"}, {"lat": "95"}, {"lat": "", "long": ""}):
        status, body, _ = _post(web, api_key, **fields)
        assert status == 400, (fields, body)
        assert json.loads(body)[0]["code"] == 400
    status, body, _ = _post(web, api_key, "xml", service_code="")
    assert status == 400 and ET.fromstring(body).findtext("error/code") == "400"


def test_unknown_request_is_404_in_json_and_xml(web: TestClient) -> None:
    response = web.get(f"{BASE}/requests/NS000000ZZZZZZ.json")
    assert response.status_code == 404 and response.json()[0]["code"] == 404
    xml = web.get(f"{BASE}/requests/NS000000ZZZZZZ.xml")
    assert xml.status_code == 404
    root = ET.fromstring(xml.content)
    assert root.tag == "errors" and root.findtext("error/code") == "404"
    assert web.get(f"{BASE}/tokens/NS000000ZZZZZZ.json").status_code == 404


def test_idempotent_retry_gives_the_same_request_and_one_event(
    web: TestClient, api_key: str, engine: Engine
) -> None:
    retry = uuid.uuid4().hex
    data = {"api_key": api_key, "service_code": RUBBISH, "description": "重试", **INSIDE}
    first = web.post(f"{BASE}/requests.json", data=data, headers={"Idempotency-Key": retry})
    second = web.post(f"{BASE}/requests.json", data=data, headers={"Idempotency-Key": retry})
    assert first.status_code == second.status_code == 200
    ticket = first.json()[0]["service_request_id"]
    assert second.json()[0]["service_request_id"] == ticket
    with session_factory(engine)() as session:
        count = session.scalar(
            select(func.count()).select_from(Event).where(Event.idempotency_key.like(f"%:{retry}"))
        )
    assert count == 1


def test_filters_and_the_public_list(web: TestClient, api_key: str, engine: Engine) -> None:
    open_ticket = _file(web, api_key)
    cancelled_ticket = _file(web, api_key, service_code="0102", description="路面不洁")
    with session_factory(engine)() as session:
        cancelled = service.get_event(session, cancelled_ticket, scope=WHOLE_DISTRICT)
        service.act(
            session,
            cancelled,
            Action.cancel,
            actor=Actor(name="desk", scope=WHOLE_DISTRICT),
            reason="现场无此问题",
        )
        dispute, _ = service.submit(
            session,
            NewEvent(subtype_code=DISPUTE, title="楼上漏水纠纷", lon=113.9248, lat=22.530853),
        )
        with use_clock(FrozenClock(get_clock().now() - timedelta(days=200))):
            old, _ = service.submit(
                session,
                NewEvent(subtype_code=RUBBISH, title="旧事件", lon=113.9248, lat=22.530853),
            )
        session.commit()
        dispute_ticket, old_ticket = dispute.ticket, old.ticket

    def tickets(fmt: str = "json", **params: str) -> list[str]:
        response = web.get(f"{BASE}/requests.{fmt}", params=params)
        assert response.status_code == 200, response.text
        if fmt == "xml":
            root = ET.fromstring(response.content)
            assert root.tag == "service_requests"
            return [str(r.findtext("service_request_id")) for r in root.findall("request")]
        return [r["service_request_id"] for r in response.json()]

    listed = tickets()
    assert open_ticket in listed and cancelled_ticket in listed
    assert dispute_ticket not in listed  # social-governance events: by ticket only
    assert old_ticket not in listed  # older than the default 90 days
    assert set(tickets("xml")) == set(listed)

    closed = tickets(status="closed")
    assert cancelled_ticket in closed and open_ticket not in closed
    assert open_ticket in tickets(status="open") and cancelled_ticket not in tickets(status="open")
    assert set(tickets(status="open,closed")) == set(listed)
    assert open_ticket not in tickets(service_code="0102") and cancelled_ticket in tickets(
        service_code="0102"
    )

    now = get_clock().now()
    assert old_ticket in tickets(start_date=(now - timedelta(days=365)).isoformat())
    assert tickets(start_date=(now + timedelta(days=1)).isoformat()) == []
    assert open_ticket not in tickets(end_date=(now - timedelta(days=1)).isoformat())
    assert open_ticket in tickets(start_date=(now - timedelta(days=1)).date().isoformat())
    bad = web.get(f"{BASE}/requests.json", params={"start_date": "yesterday"})
    assert bad.status_code == 400 and bad.json()[0]["code"] == 400
    assert web.get(f"{BASE}/requests.json", params={"status": "pending"}).status_code == 400

    by_ids = tickets(service_request_id=f"{open_ticket},{dispute_ticket}", status="closed")
    # Ids override every other filter; a social-governance event needs its access code too (it has none:
    # filed by the desk), see tests/test_abuse.py.
    assert set(by_ids) == {open_ticket}

    [cancelled_row] = web.get(f"{BASE}/requests/{cancelled_ticket}.json").json()
    assert cancelled_row["status"] == "closed" and cancelled_row["status_notes"] == "不予立案：现场无此问题"


# ---------------------------------------------------------------------------------------------------------
# Keys and the command line


def test_keys_are_stored_hashed_and_revocable(engine: Engine) -> None:
    with session_factory(engine)() as session:
        key = open311.create_key(session, "hash-check")
        row = open311.check_key(session, key)
        assert row is not None and row.key_hash != key and len(row.key_hash) == 64
        assert open311.check_key(session, "nope") is None and open311.check_key(session, None) is None
        open311.revoke_key(session, "hash-check")
        assert open311.check_key(session, key) is None
        session.rollback()


def test_cli_key_create_list_revoke(cli_env: None, web: TestClient, engine: Engine) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    created = runner.invoke(cli_app, ["open311", "keys", "create", name])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert len(key) >= 40
    with session_factory(engine)() as session:
        stored = session.scalars(select(Open311Key).where(Open311Key.name == name)).one()
        assert stored.key_hash != key
    assert _post(web, key)[0] == 200

    again = runner.invoke(cli_app, ["open311", "keys", "create", name])
    assert again.exit_code == 1

    listed = runner.invoke(cli_app, ["open311", "keys", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows[name]["revoked_at"] is None and key not in listed.stdout

    revoked = runner.invoke(cli_app, ["open311", "keys", "revoke", name])
    assert revoked.exit_code == 0, revoked.output
    assert _post(web, key)[0] == 403
    listed = runner.invoke(cli_app, ["open311", "keys", "list", "--json"])
    assert {r["name"]: r for r in json.loads(listed.stdout)}[name]["revoked_at"] is not None
    assert runner.invoke(cli_app, ["open311", "keys", "revoke", "no-such-key"]).exit_code == 1
