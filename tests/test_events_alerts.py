"""The video-alert webhook (POST /api/events/alerts) and `gridgov events replay-alerts`, on both backends:
filing (201) and a re-sent alert (200, the same ticket), the platform's type names mapped through the
taxonomy's names and aliases, refusals answered with the reason *and* kept in the day's rejects file
(unknown type, outside the district or the caller's scope, bad fields, a bad snapshot — then nothing is
filed), the snapshot stored without its metadata, tokens without events.report and callers without a token
refused and not kept, concurrent appends kept whole, and a fixed rejects file replayed.

The router is included here on an app of its own (``alerts_app``) until web/app.py includes it.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from gridgov.accounts import service as accounts
from gridgov.accounts.permissions import Role
from gridgov.areas.crs import wgs84_to_gcj02
from gridgov.areas.scope import WHOLE_DISTRICT
from gridgov.cli.main import app as cli
from gridgov.core.db import session_factory
from gridgov.demo.accounts import DemoAccount
from gridgov.events import alerts, service
from gridgov.events.models import Event, EventPhoto

NANSHAN_POINT = (113.9248, 22.530853)  # inside 南山社区 (南山街道): outside the demo grid worker's grids
HONG_KONG = (114.1694, 22.3193)
PATH = "/api/events/alerts"


@pytest.fixture(scope="module")
def alerts_app(engine: Engine) -> FastAPI:
    from gridgov.web.app import create_app

    return create_app(engine)


@pytest.fixture(scope="module")
def platform(engine: Engine, demo_accounts: dict[str, DemoAccount]) -> dict[str, Any]:
    """Event types and units, and a video platform's account (district-wide) with two tokens: one with every
    permission of its role, one limited to reading events."""
    with session_factory(engine)() as session:
        service.seed_org_units(session)
        service.seed_categories(session)
        username = f"test.video.{uuid.uuid4().hex[:6]}"
        user = accounts.create_user(
            session,
            accounts.NewUser(
                username=username,
                password=secrets.token_urlsafe(16) + "-7",  # letters and digits, always
                role=Role.district_operator,
                scope=WHOLE_DISTRICT,
                display_name="视频智能分析平台",
            ),
        )
        full = accounts.issue_token(session, user, name="video").token
        read_only = accounts.issue_token(session, user, name="video-read", permissions=["events.read"]).token
        session.commit()
    return {"username": username, "token": full, "read_only": read_only}


@pytest.fixture
def kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Rejects and photos go to this test's own folder."""
    monkeypatch.setattr(alerts, "rejects_dir", lambda: tmp_path / "rejects")
    monkeypatch.setattr(service, "photo_dir", lambda: tmp_path / "photos")
    return tmp_path


@pytest.fixture(scope="module")
def client_as(alerts_app: FastAPI) -> Iterator[Callable[[str | None], TestClient]]:
    """``client_as(token)``: a client carrying that bearer token (None: no token)."""
    clients: list[TestClient] = []

    def make(token: str | None) -> TestClient:
        client = TestClient(alerts_app, base_url="https://testserver")
        if token is not None:
            client.headers["Authorization"] = f"Bearer {token}"
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="module")
def video(client_as: Callable[[str | None], TestClient], platform: dict[str, Any]) -> TestClient:
    return client_as(platform["token"])


def alert(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "alert_id": f"A-{uuid.uuid4().hex[:12]}",
        "camera_id": "44030500001320000001",
        "alert_type": "占道经营",
        "lon": NANSHAN_POINT[0],
        "lat": NANSHAN_POINT[1],
        "crs": "wgs84",
        "occurred_at": "2025-03-03T09:30:00+08:00",
        "description": "人行道上有流动摊贩",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def events_with_key(engine: Engine, camera_id: str, alert_id: str) -> list[Event]:
    with session_factory(engine)() as session:
        key = alerts.alert_key(camera_id, alert_id)
        return list(session.scalars(select(Event).where(Event.idempotency_key.endswith(f":{key}"))))


def kept_lines(folder: Path) -> list[dict[str, Any]]:
    files = sorted((folder / "rejects").glob("video-alerts-*.jsonl"))
    return [json.loads(line) for path in files for line in path.read_text(encoding="utf-8").splitlines()]


def jpeg_with_location() -> bytes:
    from PIL import Image

    image = Image.new("RGB", (48, 32), "orange")
    exif = Image.Exif()
    exif[0x010F] = "CameraMakerX"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (22.0, 31.0, 50.0), "E", (113.0, 55.0, 29.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def ok(response: Any, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_first_filing_is_201_and_a_resent_alert_200_with_the_same_ticket(
    video: TestClient, engine: Engine, platform: dict[str, Any], kept: Path
) -> None:
    body = alert()
    first = ok(video.post(PATH, json=body), 201)
    assert first["created"] is True and first["ticket"].startswith("NS")
    assert first["subtype_code"] == "0401" and first["subtype_name"] == "占道经营"
    assert first["state"] == "reported" and first["street_code"] == "440305002000" and first["grid_code"]
    again = ok(video.post(PATH, json=body), 200)
    assert again["ticket"] == first["ticket"] and again["created"] is False
    [event] = events_with_key(engine, body["camera_id"], body["alert_id"])
    assert event.ticket == first["ticket"] and event.channel == "video"
    assert event.title == "视频告警：占道经营"
    assert body["camera_id"] in event.description and body["alert_id"] in event.description
    assert "2025-03-03 09:30:00" in event.description and "流动摊贩" in event.description
    # The same alert number from another camera is another alert.
    other = ok(video.post(PATH, json={**body, "camera_id": "44030500001320000002"}), 201)
    assert other["ticket"] != first["ticket"]
    assert kept_lines(kept) == []  # nothing refused, nothing kept


def test_the_platforms_type_names_map_through_the_taxonomys_names_and_aliases(
    video: TestClient, kept: Path
) -> None:
    # 非机动车乱停放 and 道路积水 are aliases (categories.yaml) of 共享单车乱停放 (0406) and 路面积水 (0502).
    bikes = ok(video.post(PATH, json=alert(alert_type="非机动车乱停放")), 201)
    assert bikes["subtype_code"] == "0406" and bikes["subtype_name"] == "共享单车乱停放"
    water = ok(video.post(PATH, json=alert(alert_type=" 道路积水 ")), 201)
    assert water["subtype_code"] == "0502"
    # What video analysis platforms commonly call the things they see.
    for platform_name, code in (("车辆违停", "0404"), ("垃圾堆放", "0101"), ("人员聚集", "0905")):
        assert ok(video.post(PATH, json=alert(alert_type=platform_name)), 201)["subtype_code"] == code
    # A GCJ-02 point (Chinese map apps) is converted: it lands in the grid of the same WGS84 point.
    wgs = ok(video.post(PATH, json=alert()), 201)
    gcj_lon, gcj_lat = wgs84_to_gcj02(*NANSHAN_POINT)
    gcj = ok(video.post(PATH, json=alert(lon=gcj_lon, lat=gcj_lat, crs="gcj02")), 201)
    assert gcj["grid_code"] == wgs["grid_code"]


def test_an_unknown_type_is_refused_with_the_reason_and_kept_as_it_came(
    video: TestClient, engine: Engine, platform: dict[str, Any], kept: Path
) -> None:
    body = alert(alert_type="高空抛物监测")
    raw = json.dumps(body, ensure_ascii=False, indent=1)  # kept byte for byte, layout included
    response = video.post(PATH, content=raw.encode("utf-8"), headers={"Content-Type": "application/json"})
    refused = ok(response, 422)
    assert "Unknown alert_type '高空抛物监测'" in refused["error"]["message"]
    assert events_with_key(engine, body["camera_id"], body["alert_id"]) == []
    [line] = kept_lines(kept)
    assert line["body"] == raw and line["reason"] == refused["error"]["message"]
    assert line["code"] == "invalid_input" and line["username"] == platform["username"]
    assert line["received_at"][:4].isdigit() and "T" in line["received_at"]
    [path] = (kept / "rejects").glob("*.jsonl")
    assert path.name == alerts.rejects_file().name  # video-alerts-YYYYMMDD.jsonl, today in China time
    assert path.stat().st_mode & 0o077 == 0  # private: snapshots show people


def test_places_outside_the_district_or_the_scope_are_refused_and_kept(
    video: TestClient, client_for: Callable[[str], TestClient], client_as: Any, engine: Engine, kept: Path
) -> None:
    body = alert(lon=HONG_KONG[0], lat=HONG_KONG[1])
    outside = ok(video.post(PATH, json=body), 422)
    assert outside["error"]["code"] == "outside_district"
    assert events_with_key(engine, body["camera_id"], body["alert_id"]) == []
    # The demo grid worker's token: 南山街道 is outside its three grids (403, kept all the same).
    grid_token = client_for("grid_worker").headers["Authorization"].removeprefix("Bearer ")
    grid = client_as(grid_token)
    foreign = ok(grid.post(PATH, json=alert()), 403)
    assert "outside your area scope" in foreign["error"]["message"]
    # The place is judged first: the route walk's probe (an event body, not an alert) gets 403, not 422.
    probe = {"subtype_code": "0101", "title": "探针事件", "lon": NANSHAN_POINT[0], "lat": NANSHAN_POINT[1]}
    assert grid.post(PATH, json=probe).status_code == 403
    lines = kept_lines(kept)
    assert [line["code"] for line in lines] == ["outside_district", "forbidden", "forbidden"]
    assert json.loads(lines[0]["body"])["alert_id"] == body["alert_id"]


def test_bad_fields_are_refused_field_by_field_and_kept(video: TestClient, kept: Path) -> None:
    missing = ok(video.post(PATH, json=alert(crs=None, camera_id="cam:1")), 422)
    fields = {d["field"] for d in missing["error"]["details"]}
    assert fields == {"crs", "camera_id"}
    naive = ok(video.post(PATH, json=alert(occurred_at="2025-03-03 09:30:00")), 422)
    assert [d["field"] for d in naive["error"]["details"]] == ["occurred_at"]
    extra = ok(video.post(PATH, json=alert(snapshoot="typo")), 422)
    assert [d["field"] for d in extra["error"]["details"]] == ["snapshoot"]
    garbage = ok(video.post(PATH, content=b"{not json", headers={"Content-Type": "application/json"}), 422)
    assert "not JSON" in garbage["error"]["message"]
    not_utf8 = video.post(PATH, content=b"\xff\xfe\x00garbage", headers={"Content-Type": "application/json"})
    assert not_utf8.status_code == 422
    lines = kept_lines(kept)
    assert len(lines) == 5
    assert lines[0]["reason"].startswith("camera_id:") and "crs: Field required" in lines[0]["reason"]
    assert lines[3]["body"] == "{not json"
    assert base64.b64decode(lines[4]["body_base64"]) == b"\xff\xfe\x00garbage"


def test_a_bad_snapshot_files_nothing_and_a_fixed_resend_files_it(
    video: TestClient, engine: Engine, kept: Path
) -> None:
    body = alert(snapshot="这不是 base64!")
    refused = ok(video.post(PATH, json=body), 422)
    assert refused["error"]["message"] == "snapshot: not valid base64"
    pdf = alert(snapshot=base64.b64encode(b"%PDF-1.4 not a photo").decode())
    refused = ok(video.post(PATH, json=pdf), 422)
    assert refused["error"]["message"].startswith("snapshot: That file is not a photo")
    assert events_with_key(engine, pdf["camera_id"], pdf["alert_id"]) == []
    assert not (kept / "photos").exists()
    assert [line["reason"][:9] for line in kept_lines(kept)] == ["snapshot:", "snapshot:"]
    # The refused alert took no key: sent again with a good snapshot, it is filed.
    fixed = {**pdf, "snapshot": base64.b64encode(jpeg_with_location()).decode()}
    assert ok(video.post(PATH, json=fixed), 201)["snapshot_sha256"]


def test_the_snapshot_is_stored_without_its_metadata(video: TestClient, engine: Engine, kept: Path) -> None:
    from PIL import Image

    original = jpeg_with_location()
    body = alert(snapshot=base64.encodebytes(original).decode())  # with line breaks every 76 characters
    filed = ok(video.post(PATH, json=body), 201)
    with session_factory(engine)() as session:
        event = session.scalars(select(Event).where(Event.ticket == filed["ticket"])).one()
        [photo] = session.scalars(select(EventPhoto).where(EventPhoto.event_id == event.id))
    assert photo.sha256 == filed["snapshot_sha256"] and photo.mime == "image/jpeg"
    stored = service.photo_path(photo).read_bytes()
    assert b"CameraMakerX" in original and b"CameraMakerX" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert not image.getexif() and image.size == (48, 32)
    # A re-sent alert stores no second photo; a PNG as a data: URL is taken too.
    assert ok(video.post(PATH, json=body), 200)["snapshot_sha256"] == photo.sha256
    png = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(png, format="PNG")
    data_url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    assert ok(video.post(PATH, json=alert(snapshot=data_url)), 201)["snapshot_sha256"]
    with session_factory(engine)() as session:
        count = session.scalar(
            select(func.count()).select_from(EventPhoto).where(EventPhoto.event_id == event.id)
        )
    assert count == 1


def test_tokens_without_events_report_and_callers_without_a_token_are_refused_and_not_kept(
    client_as: Callable[[str | None], TestClient],
    client_for: Callable[[str], TestClient],
    platform: dict[str, Any],
    engine: Engine,
    kept: Path,
) -> None:
    body = alert()
    limited = ok(client_as(platform["read_only"]).post(PATH, json=body), 403)
    assert "events.report" in limited["error"]["message"]
    contractor_token = client_for("contractor").headers["Authorization"].removeprefix("Bearer ")
    assert client_as(contractor_token).post(PATH, json=body).status_code == 403
    nobody = ok(client_as(None).post(PATH, json=body), 401)
    assert nobody["error"]["code"] == "unauthenticated"
    assert ok(client_as("not-a-token").post(PATH, json=body), 401)["error"]["code"] == "invalid_token"
    assert events_with_key(engine, body["camera_id"], body["alert_id"]) == []
    assert kept_lines(kept) == []  # only an authenticated reporter's refusals are kept


def test_concurrent_refusals_are_each_kept_whole(kept: Path) -> None:
    big = "x" * 70_000  # larger than a pipe buffer: a torn write would show

    def refuse(worker: int) -> None:
        for n in range(20):
            alerts.keep_rejected(json.dumps({"worker": worker, "n": n, "pad": big}), "test", username="t")

    threads = [threading.Thread(target=refuse, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = kept_lines(kept)
    assert len(lines) == 160
    seen = {(json.loads(line["body"])["worker"], json.loads(line["body"])["n"]) for line in lines}
    assert seen == {(w, n) for w in range(8) for n in range(20)}


def test_a_fixed_rejects_file_is_replayed_line_by_line(
    video: TestClient, engine: Engine, platform: dict[str, Any], kept: Path, cli_env: None
) -> None:
    unknown = alert(alert_type="车辆乱停")
    hong_kong = alert(lon=HONG_KONG[0], lat=HONG_KONG[1])
    assert video.post(PATH, json=unknown).status_code == 422
    assert video.post(PATH, json=hong_kong).status_code == 422
    [source] = (kept / "rejects").glob("video-alerts-*.jsonl")
    first, second = (json.loads(line) for line in source.read_text(encoding="utf-8").splitlines())
    # A person fixes the first: the type as text in the body (as received), and leaves the second as it is.
    first["body"] = first["body"].replace("车辆乱停", "机动车违停")
    # A line a person rewrote as an object, with a snapshot that is no photo: refused, nothing filed.
    pdf = alert(snapshot=base64.b64encode(b"%PDF-1.4").decode())
    bad_photo = {"username": platform["username"], "body": pdf}
    fixed = Path(kept / "fixed.jsonl")
    lines = (first, second, {"body": {}}, bad_photo)
    fixed.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in lines) + "\n", encoding="utf-8")

    result = CliRunner().invoke(cli, ["events", "replay-alerts", str(fixed), "--json"])
    assert result.exit_code == 2, result.output  # some lines are still refused
    report = json.loads(result.output)
    assert (report["lines"], report["filed"], report["duplicate"], report["refused"]) == (4, 1, 0, 3)
    filed, outside, nameless, photo = report["results"]
    assert photo["status"] == "refused" and photo["reason"].startswith("snapshot: That file is not a photo")
    assert events_with_key(engine, pdf["camera_id"], pdf["alert_id"]) == []
    assert filed["status"] == "filed" and filed["ticket"]
    [event] = events_with_key(engine, unknown["camera_id"], unknown["alert_id"])
    assert event.ticket == filed["ticket"] and event.subtype_code == "0404" and event.channel == "video"
    assert outside["status"] == "refused" and "outside Nanshan" in outside["reason"]
    assert nameless["status"] == "refused" and "names no account" in nameless["reason"]
    still = Path(report["rejects_file"])
    assert still.parent == kept / "rejects" and still.name.startswith("fixed.rejected-") and still != source
    again = [json.loads(line) for line in still.read_text(encoding="utf-8").splitlines()]
    assert [r["reason"] for r in again] == [outside["reason"], nameless["reason"], photo["reason"]]
    assert again[2]["body"] == pdf  # kept as the person wrote it, to fix again
    assert again[0]["body"] == second["body"] and again[0]["replayed_at"]

    # Replaying the fixed file again files nothing twice; a wholly good file exits 0.
    with session_factory(engine)() as session:
        twice = alerts.replay_alerts(session, fixed)
        session.commit()
    assert (twice.filed, twice.duplicate, twice.results[0].ticket) == (0, 1, filed["ticket"])
    only_good = Path(kept / "good.jsonl")
    only_good.write_text(json.dumps(first, ensure_ascii=False) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["events", "replay-alerts", str(only_good)])
    assert result.exit_code == 0, result.output
    assert f"line 1: duplicate {filed['ticket']}" in result.output


def test_the_route_is_documented_with_its_body_and_scope_kind(alerts_app: FastAPI) -> None:
    operation = alerts_app.openapi()["paths"][PATH]["post"]
    assert operation["x-scope"] == "event:body"
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["required"]) >= {
        "alert_id",
        "camera_id",
        "alert_type",
        "lon",
        "lat",
        "crs",
        "occurred_at",
    }
