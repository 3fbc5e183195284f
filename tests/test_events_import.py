"""Importing 12345 work orders and grid reports: every row filed or rejected with its reason, at the time the
row gives; a second import changes nothing; the synthetic world's feeds go in."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from gridgov.core.clock import CHINA_TZ
from gridgov.core.db import session_factory
from gridgov.events import service
from gridgov.events.models import Event, Whistle

HEADER = "工单编号,受理时间,问题大类,问题小类,诉求内容,事发地址,经度,纬度,坐标系,来电号码,承办单位,办理状态"


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        service.seed_org_units(session)
        service.seed_categories(session)
        yield session
        session.rollback()


def _orders(tmp_path: Path, prefix: str) -> Path:
    rows = [
        HEADER,
        # a point in GCJ-02 inside 南山社区; an alias type name (群租 → 治安隐患)
        f"{prefix}01,2025-11-01 09:07:38,治安,群租,出租屋人数过多,,113.9300,22.5280,GCJ-02,13812345678,"
        "派出所,已办结",
        # no point: the address text is matched through the library (filled in by the test)
        f"{prefix}02,2025-11-02 10:00:00,安全隐患,井盖缺损,井盖缺失,{{address}},,,,136****1253,城管,已办结",
        f"{prefix}03,2025-11-03 11:00:00,其他,外星人入侵,看见飞碟,,113.93,22.53,WGS84,,,",  # unknown type
        f"{prefix}04,昨天下午,市容环境,暴露垃圾,垃圾,,113.93,22.53,WGS84,,,",  # unreadable time
        f"{prefix}05,2025-11-04 12:00:00,市容环境,暴露垃圾,香港的垃圾,,114.1694,22.3193,WGS84,,,",  # outside
    ]
    path = tmp_path / f"{prefix}.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_rows_are_filed_at_their_time_or_rejected_with_a_reason(
    db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridgov.address.models import StdAddress
    from gridgov.core.settings import get_settings

    monkeypatch.setenv("GRIDGOV_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        address = db.scalars(select(StdAddress).where(StdAddress.level == "building")).first()
        assert address is not None
        path = _orders(tmp_path, "RXT")
        path.write_text(path.read_text(encoding="utf-8").replace("{address}", address.text), encoding="utf-8")
        report = service.import_reports(db, path)
        assert (report.rows, report.imported, report.unchanged, report.rejected) == (5, 2, 0, 3)
        assert report.channel == "hotline"
        first = db.scalars(select(Event).where(Event.idempotency_key == "hotline:RXT01")).one()
        assert first.created_at == datetime(2025, 11, 1, 9, 7, 38, tzinfo=CHINA_TZ)
        assert first.community_code == "440305002007" and first.subtype_code == "0901"
        assert first.reporter_phone is not None  # kept (encrypted); the masked one in row 2 is dropped
        second = db.scalars(select(Event).where(Event.idempotency_key == "hotline:RXT02")).one()
        assert second.std_address_code == address.code and second.reporter_phone is None
        assert report.rejects_file is not None
        with Path(report.rejects_file).open(encoding="utf-8-sig", newline="") as handle:
            rejected = list(csv.DictReader(handle))
        assert [r["工单编号"] for r in rejected] == ["RXT03", "RXT04", "RXT05"]
        assert "unknown event type '外星人入侵'" in rejected[0]["reason"]
        assert "unreadable time" in rejected[1]["reason"] and "outside Nanshan" in rejected[2]["reason"]
        again = service.import_reports(db, path)
        assert (again.imported, again.unchanged, again.rejected) == (0, 2, 3)
        assert (
            db.scalar(
                select(func.count()).select_from(Event).where(Event.idempotency_key.like("hotline:RXT%"))
            )
            == 2
        )
    finally:
        get_settings.cache_clear()


def test_a_file_without_the_columns_is_refused(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(service.InvalidInput, match="has no 工单编号 / 事件编号 column"):
        service.import_reports(db, path)


def test_the_worlds_feeds_import_from_the_command_line(
    cli_env: None, engine: Engine, demo_world: Path
) -> None:
    from gridgov.cli.main import app

    with session_factory(engine)() as session:
        service.seed_org_units(session)
        service.seed_categories(session)
        session.commit()
    # The first 300 work orders of the world's 12345 feed (the whole feed replays ~13,000 workflow steps).
    from openpyxl import Workbook, load_workbook

    source = load_workbook(demo_world / "events" / "hotline_12345.xlsx", read_only=True)
    sample = Workbook()
    sheet = sample.active
    assert sheet is not None
    for index, row in enumerate(source.worksheets[0].iter_rows(values_only=True)):
        if index > 300:
            break
        sheet.append(list(row))
    source.close()
    feed = demo_world.parent / f"hotline-sample-{demo_world.name}.xlsx"
    sample.save(feed)
    result = CliRunner().invoke(app, ["events", "import", str(feed), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["channel"] == "hotline" and report["rows"] == 300
    assert report["history_incomplete"] <= report["imported"] * 0.05, report
    assert report["imported"] + report["unchanged"] + report["rejected"] == report["rows"]
    assert report["imported"] / report["rows"] > 0.9, report["reasons"]


def test_a_flow_record_is_replayed_through_the_workflow_at_its_times(db: Session, tmp_path: Path) -> None:
    header = "工单编号,受理时间,问题大类,问题小类,诉求内容,事发地址,经度,纬度,坐标系,流转记录,满意度"
    history = (
        "2025-11-01 17:42 受理；18:18 立案；18:35 派遣至区水务局；19:24 处置完成；2025-11-02 11:37 回访办结"
    )
    refused = "2025-11-03 09:00 受理；09:10 不予立案（不属于受理范围）"
    path = tmp_path / "flows.csv"
    path.write_text(
        "\n".join(
            [
                header,
                f"RXF01,2025-11-01 17:42:37,突发事件,道路积水,积水,,113.9248,22.530853,WGS84,{history},满意",
                f"RXF02,2025-11-03 09:00:00,突发事件,道路积水,积水,,113.9248,22.530853,WGS84,{refused},",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    report = service.import_reports(db, path)
    assert (report.imported, report.history_incomplete) == (2, 0)
    done = db.scalars(select(Event).where(Event.idempotency_key == "hotline:RXF01")).one()
    assert (
        done.state == "evaluated" and done.rating == 5 and done.handling_unit_code == "D-SW"
    )  # 南山区水务局
    steps = service.timeline(db, done)
    assert [s.action for s in steps] == [
        "report",
        "accept",
        "dispatch",
        "sign",
        "handle",
        "verify",
        "close",
        "evaluate",
    ]
    assert steps[2].at == datetime(2025, 11, 1, 18, 35, tzinfo=CHINA_TZ)
    assert steps[-1].at == datetime(2025, 11, 2, 11, 37, tzinfo=CHINA_TZ)
    cancelled = db.scalars(select(Event).where(Event.idempotency_key == "hotline:RXF02")).one()
    assert cancelled.state == "cancelled" and service.timeline(db, cancelled)[-1].note == "不属于受理范围"


def test_the_demo_loads_historical_events_whistles_and_runs_the_deadlines(
    db: Session, tmp_path: Path
) -> None:
    from gridgov.address.models import StdAddress
    from gridgov.demo.load import load_demo_events

    # A place in 西丽街道, where no other test files events (the per-street whistle quota is ours).
    place = db.execute(
        select(StdAddress.lon, StdAddress.lat)
        .where(StdAddress.street_code == "440305009000", StdAddress.lon.is_not(None))
        .order_by(StdAddress.code)
    ).first()
    assert place is not None
    lon, lat = place
    dispatched = "09:00 上报；09:20 立案；09:40 派遣至南山区城市管理和综合执法局"
    world = tmp_path / "world"
    (world / "events").mkdir(parents=True)
    rows = ["事件编号,上报时间,上报人,事件大类,事件小类,事件描述,事发地址,经度,纬度,坐标系,处置记录"]
    for n in range(1, 4):  # dispatched last month and never handled: open, overdue, several departments
        rows.append(
            f"SJD{n:03d},2026-10-1{n} 09:00:00,网格员,街面秩序,油罐车违停,油罐车停在小区对面,,"
            f"{lon},{lat},WGS84,2026-10-1{n} {dispatched}"
        )
    rows.append(
        f"SJD009,2026-10-19 09:00:00,网格员,市容环境,暴露垃圾,垃圾,,{lon},{lat},WGS84,"
        f"2026-10-19 {dispatched}；10:00 处置完成；11:00 核查结案"
    )
    (world / "events" / "grid_reports.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    lines = load_demo_events(db, world)
    assert "4 filed" in lines[0] and "0 rejected" in lines[0]
    events = db.scalars(select(Event).where(Event.idempotency_key.like("grid:SJD%")).order_by(Event.id)).all()
    assert [e.street_code for e in events] == ["440305009000"] * 4
    assert [e.state for e in events] == ["dispatched", "dispatched", "dispatched", "closed"]
    whistles = db.scalars(select(Whistle).where(Whistle.event_id.in_([e.id for e in events]))).all()
    assert sorted(w.event_id for w in whistles) == [
        events[0].id,
        events[1].id,
    ]  # two per street, oldest first
    assert all(e.deadline_status == "red" and e.supervised for e in events[:3])
    assert "whistled" in lines[-1] and "overdue" in lines[-1]
