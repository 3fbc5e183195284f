"""Importing the standard address library: the world's feeds, plain lines, and every kind of bad input."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from gridgov.address.models import StdAddress
from gridgov.address.service import ImportReport, import_file
from gridgov.core.db import session_factory
from gridgov.core.errors import InvalidInput


def run_import(engine: Engine, path: Path, fmt: str | None = None) -> ImportReport:
    with session_factory(engine)() as session:
        report = import_file(session, path, fmt=fmt)
        session.commit()
    assert report.rows == report.imported + report.unchanged + report.rejected  # nothing lost
    return report


def rejected_rows(report: ImportReport) -> list[dict[str, str]]:
    assert report.rejects_file is not None
    with open(report.rejects_file, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_world_loads_through_the_import_path(
    backend: str, empty_engine_factory: Callable[[str], Engine], demo_world: Path
) -> None:
    engine = empty_engine_factory(backend)
    from gridgov.areas.service import load_nanshan_areas

    with session_factory(engine)() as session:
        load_nanshan_areas(session)
        session.commit()
    buildings = run_import(engine, demo_world / "addresses" / "standard_addresses.csv")
    dwellings = run_import(engine, demo_world / "addresses" / "dwellings.csv")
    assert (buildings.imported, dwellings.imported) == (525, 10_500)
    assert buildings.rejected == dwellings.rejected == 0
    again = run_import(engine, demo_world / "addresses" / "standard_addresses.csv")
    assert (again.imported, again.unchanged) == (0, 525)  # idempotent
    with session_factory(engine)() as session:
        dwelling = session.scalars(select(StdAddress).where(StdAddress.level == "dwelling")).first()
        assert dwelling is not None and dwelling.parent_id is not None
        parent = session.get(StdAddress, dwelling.parent_id)
        assert parent is not None and dwelling.grid_code == parent.grid_code and dwelling.lon == parent.lon
        located = session.scalar(
            select(func.count()).select_from(StdAddress).where(StdAddress.grid_code.is_not(None))
        )
        assert located == 11_025


def test_lines_from_outside_nanshan_import_with_reasons_for_the_bad_ones(
    empty_engine_factory: Callable[[str], Engine], tmp_path: Path
) -> None:
    engine = empty_engine_factory("sqlite")
    pairs = (
        Path(__file__).resolve().parents[2] / "shared" / "data" / "address" / "sz_matching" / "val_pairs.tsv"
    )
    lines = [
        "宝安区福永街道白石厦社区龙王庙工业区61栋",
        "",
        "just latin letters",
        "福田区" + "很长" * 200,
        "罗湖区\x07东门",
        "宝安区福永街道白石厦社区龙王庙工业区61栋",  # the same line again
    ]
    if pairs.exists():
        lines += [row.split("\t")[1] for row in pairs.read_text(encoding="utf-8").splitlines()[:200]]
    source = tmp_path / "library.txt"
    source.write_text("\n".join(lines), encoding="utf-8")
    report = run_import(engine, source, "lines")
    reasons = [row["reason"] for row in rejected_rows(report)]
    assert reasons[:4] == [
        "empty address",
        "no Chinese characters: not an address we can place",
        "address longer than 256 characters",
        "control characters in the address",
    ]
    assert report.unchanged >= 1 and report.imported >= 1
    # The rejects file keeps the original line, its number and the reason, ready to fix and replay.
    first = rejected_rows(report)[0]
    assert first["line"] == "2"


def test_gbk_files_are_read_and_binary_files_refused(
    empty_engine_factory: Callable[[str], Engine], tmp_path: Path
) -> None:
    engine = empty_engine_factory("sqlite")
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes("南山区科技园科苑路15号\n南山区蛇口街道渔一社区\n".encode("gbk"))
    report = run_import(engine, gbk, "lines")
    assert report.encoding == "gb18030" and report.imported == 2
    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(InvalidInput, match="binary"):
        run_import(engine, binary, "lines")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("café crème brûlée à la carte, déjà vu ".encode("latin-1") * 30)
    with pytest.raises(InvalidInput, match="UTF-8"):
        run_import(engine, latin1, "lines")


def test_broken_csv_rows_are_rejected_not_dropped(
    empty_engine_factory: Callable[[str], Engine], tmp_path: Path
) -> None:
    engine = empty_engine_factory("sqlite")
    source = tmp_path / "buildings.csv"
    source.write_text(
        "std_code,address,lon,lat\n"
        "44030500700300010001,深圳市南山区粤海街道麻布新村一坊1号,113.94,22.53\n"
        '44030500700300010002,"深圳市南山区粤海街道麻布新村二坊1号\n'  # unterminated quote from here on
        "44030500700300010003,深圳市南山区粤海街道麻布新村三坊1号,113.94,22.53\n",
        encoding="utf-8",
    )
    report = run_import(engine, source)
    assert report.imported == 1 and report.rejected >= 1
    assert any("CSV" in row["reason"] or "columns" in row["reason"] for row in rejected_rows(report))
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(
        "std_code,address,lon,lat\nABC,深圳市南山区某路1号,x,22.5\n1234,深圳市南山区某路2号,113.9,\n",
        encoding="utf-8",
    )
    reasons = [row["reason"] for row in rejected_rows(run_import(engine, wrong))]
    assert reasons == ["std_code must be digits (at most 40)", "lon and lat must be given together"]
    with pytest.raises(InvalidInput, match="header"):
        run_import(engine, _write(tmp_path / "nothing.csv", "foo,bar\n1,2\n"))


def test_dwellings_need_their_building_first(
    empty_engine_factory: Callable[[str], Engine], tmp_path: Path
) -> None:
    engine = empty_engine_factory("sqlite")
    orphans = _write(
        tmp_path / "dwellings.csv",
        "dwelling_code,std_code,unit,floor,room,use,address\n"
        "44030500700300010001000101,44030500700300010001,,1,101,rented,深圳市南山区麻布新村一坊1号101\n",
    )
    report = run_import(engine, orphans)
    assert report.rejected == 1
    assert "import the buildings first" in rejected_rows(report)[0]["reason"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_address_api_is_scoped(client_for: Callable[[str], TestClient], engine: Engine) -> None:
    with session_factory(engine)() as session:
        yuehai = session.scalars(
            select(StdAddress).where(StdAddress.street_code == "440305007000", StdAddress.level == "building")
        ).first()
        nantou = session.scalars(select(StdAddress).where(StdAddress.street_code == "440305001000")).first()
    assert yuehai is not None and nantou is not None
    street = client_for("street_operator")
    one = street.get(f"/api/addresses/{yuehai.code}")
    assert one.status_code == 200 and one.json()["text"] == yuehai.text
    assert street.get(f"/api/addresses/{nantou.code}").status_code == 403
    assert street.get("/api/addresses/00000000").status_code == 404
    found = street.get("/api/addresses/search", params={"q": yuehai.site_name or "南山区"}).json()
    assert found and all(a["street_code"] == "440305007000" for a in found)
    assert client_for("admin").get("/api/addresses/search", params={"q": ""}).status_code == 422
