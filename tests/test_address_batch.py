"""Batch matching: every row comes out, worker processes and a Dask cluster give the same output."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gridgov.address.batch import OUTPUT_COLUMNS, match_file
from gridgov.address.service import import_file
from gridgov.core.db import session_factory
from gridgov.core.errors import InvalidInput

LIBRARY = [
    "宝安区107国道旁北方骏亿工业区3栋",
    "宝安区107国道旁北方骏亿工业区4栋",
    "宝安区凤凰山大道98号凤凰御林山景1单元",
    "宝安区凤凰山大道98号凤凰御林山景2单元",
    "南山区粤海街道科苑路15号科兴科学园B栋",
    "南山区粤海街道科苑路15号科兴科学园A栋",
    "福田区华强北路1号",
]


@pytest.fixture
def library_engine(empty_engine_factory: Callable[[str], Engine], tmp_path: Path) -> Engine:
    engine = empty_engine_factory("sqlite")
    source = tmp_path / "library.txt"
    source.write_text("\n".join(LIBRARY), encoding="utf-8")
    with session_factory(engine)() as session:
        import_file(session, source, fmt="lines")
        session.commit()
    return engine


def queries(tmp_path: Path) -> Path:
    path = tmp_path / "queries.csv"
    path.write_text(
        "id,地址\n"
        "1,107国道旁北方骏亿工业区3栋A404\n"
        "2,凤凰山大道98号凤凰御林山景二单元26G\n"
        "3,科苑路15号科兴科学园B座1201\n"
        "4,\n"
        "5," + "长" * 300 + "\n"
        "6,完全不相干的文字\n"
        '7,"华强北路1号\n',  # unterminated quote: a row-level error, not a crash
        encoding="utf-8",
    )
    return path


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_row_comes_out_with_its_match_or_reason(library_engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    with session_factory(library_engine)() as session:
        summary = match_file(session, queries(tmp_path), out, column="地址")
    rows = read(out)
    # Seven rows in, seven out; the broken one carries its line number (its columns could not be read).
    assert [r["id"] for r in rows] == ["1", "2", "3", "4", "5", "6", ""]
    assert set(OUTPUT_COLUMNS) <= set(rows[0])
    assert rows[0]["std_address"] == "宝安区107国道旁北方骏亿工业区3栋" and rows[0]["decision"] == "accept"
    assert rows[1]["std_address"] == "宝安区凤凰山大道98号凤凰御林山景2单元"
    assert rows[2]["std_address"].endswith("科兴科学园B栋")
    assert rows[3]["reason"] == "empty address" and rows[3]["level"] == "none"
    assert "longer than" in rows[4]["reason"]
    assert rows[5]["decision"] in ("reject", "review")
    assert rows[6]["reason"].startswith("line 8: broken CSV") and rows[6]["decision"] == "error"
    assert summary["rows"] == 7 == sum(summary[k] for k in ("accept", "review", "reject", "error"))


def test_worker_processes_and_dask_give_the_same_output(library_engine: Engine, tmp_path: Path) -> None:
    from distributed import LocalCluster

    source = queries(tmp_path)
    outputs = []
    with session_factory(library_engine)() as session:
        for name, kwargs in (("one", {"workers": 1}), ("two", {"workers": 2})):
            match_file(session, source, tmp_path / f"{name}.csv", column="地址", **kwargs)  # type: ignore[arg-type]
            outputs.append((tmp_path / f"{name}.csv").read_bytes())
        with LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster:
            match_file(
                session,
                source,
                tmp_path / "dask.csv",
                column="地址",
                engine="dask",
                scheduler=cluster.scheduler_address,
            )
        outputs.append((tmp_path / "dask.csv").read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


def test_bad_requests_are_refused_clearly(library_engine: Engine, tmp_path: Path) -> None:
    with session_factory(library_engine)() as session:
        with pytest.raises(InvalidInput, match="has: id, 地址"):
            match_file(session, queries(tmp_path), tmp_path / "x.csv", column="address")
        with pytest.raises(InvalidInput, match="scheduler"):
            match_file(session, queries(tmp_path), tmp_path / "x.csv", column="地址", engine="dask")


def test_binary_and_empty_inputs_are_refused_by_name(library_engine: Engine, tmp_path: Path) -> None:
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"  \n")
    with session_factory(library_engine)() as session:
        with pytest.raises(InvalidInput, match=r"photo\.csv looks binary"):
            match_file(session, binary, tmp_path / "x.csv", column="地址")
        with pytest.raises(InvalidInput, match=r"empty\.csv is empty"):
            match_file(session, empty, tmp_path / "x.csv", column="地址")
    assert not (tmp_path / "x.csv").exists()


def test_an_empty_library_is_refused(empty_engine_factory: Callable[[str], Engine], tmp_path: Path) -> None:
    engine = empty_engine_factory("sqlite")
    with session_factory(engine)() as session, pytest.raises(InvalidInput, match="library is empty"):
        match_file(session, queries(tmp_path), tmp_path / "x.csv", column="地址")


def test_match_api_answers_in_scope_and_refuses_oversized_requests(
    client_for: Callable[[str], TestClient], engine: Engine
) -> None:
    from sqlalchemy import func, select

    from gridgov.address.models import StdAddress

    with session_factory(engine)() as session:
        yuehai = session.scalars(
            select(StdAddress).where(StdAddress.street_code == "440305007000", StdAddress.level == "building")
        ).first()
        # A text the library holds once (a real library may repeat a text; then either record is right).
        unique_texts = select(StdAddress.text).group_by(StdAddress.text).having(func.count() == 1)
        nantou = session.scalars(
            select(StdAddress).where(
                StdAddress.street_code == "440305001000",
                StdAddress.level == "building",
                StdAddress.text.in_(unique_texts),
            )
        ).first()
    assert yuehai is not None and nantou is not None
    messy = yuehai.text.replace("深圳市南山区", "")
    answer = client_for("street_operator").post("/api/addresses/match", json={"texts": [messy, nantou.text]})
    assert answer.status_code == 200
    inside, outside = answer.json()
    assert inside["std_code"] == yuehai.code and inside["decision"] == "accept"
    assert outside["std_code"] == "" and "outside your area scope" in outside["reason"]
    admin = client_for("admin")
    assert (
        admin.post("/api/addresses/match", json={"texts": [nantou.text]}).json()[0]["std_code"] == nantou.code
    )
    assert admin.post("/api/addresses/match", json={"texts": []}).status_code == 422
    assert admin.post("/api/addresses/match", json={"texts": ["南山区"] * 10_001}).status_code == 422


def test_huge_inputs_stream_in_chunks_and_keep_every_row(
    library_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of 3 records: a quoted field with a line break straddles a chunk boundary, a broken quote
    is reported on its line, and both engines give the same bytes as a one-chunk run."""
    from gridgov.address import batch

    source = tmp_path / "many.csv"
    lines = ["id,备注,地址"]
    for n in range(1, 11):
        lines.append(f'{n},"第{n}行\n第二行",科苑路15号科兴科学园B座{n}0{n}')
    lines.append("11,x,福田区华强北路1号")
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with session_factory(library_engine)() as session:
        whole = match_file(session, source, tmp_path / "whole.csv", column="地址")
        monkeypatch.setattr(batch, "CHUNK", 3)
        seen: list[tuple[int, int]] = []
        chunked = match_file(
            session,
            source,
            tmp_path / "chunked.csv",
            column="地址",
            workers=2,
            progress=lambda done, total: seen.append((done, total)),
        )
    assert (tmp_path / "whole.csv").read_bytes() == (tmp_path / "chunked.csv").read_bytes()
    assert whole["rows"] == chunked["rows"] == 11 and chunked["accept"] == 11
    rows = read(tmp_path / "chunked.csv")
    assert [r["id"] for r in rows] == [str(n) for n in range(1, 12)]
    assert rows[0]["备注"] == "第1行\n第二行"
    # Progress in bytes of the input, rising to the file's size.
    assert len(seen) == 4 and seen[-1] == (source.stat().st_size, source.stat().st_size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_gbk_files_and_undecodable_bytes_are_read_or_reported(library_engine: Engine, tmp_path: Path) -> None:
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("编号,地址\n1,科苑路15号科兴科学园A栋\n2,华强北路1号\n".encode("gb18030"))
    lines = tmp_path / "lines.txt"
    good = "".join(f"科苑路15号科兴科学园A栋{n}01\n" for n in range(1, 150)).encode()
    lines.write_bytes("科苑路15号科兴科学园A栋\n".encode() + b"\xff\xfe\xfa broken\n" + good)
    with session_factory(library_engine)() as session:
        summary = match_file(session, gbk, tmp_path / "gbk-out.csv", column="地址")
        assert summary["encoding"] == "gb18030" and summary["accept"] == 2
        assert read(tmp_path / "gbk-out.csv")[0]["std_address"].endswith("科兴科学园A栋")
        summary = match_file(session, lines, tmp_path / "lines-out.csv")
    rows = read(tmp_path / "lines-out.csv")
    assert summary["rows"] == 151 and summary["error"] == 1 and summary["accept"] == 150
    assert rows[1]["decision"] == "error" and rows[1]["reason"] == "line 2: bytes that are not valid utf-8"
    assert rows[0]["decision"] == "accept" and rows[1]["address"] == "\ufffd\ufffd\ufffd broken"


def test_xlsx_input_streams_too(library_engine: Engine, tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["编号", "地址"])
    sheet.append([1, "科苑路15号科兴科学园A栋"])
    sheet.append([None, None])  # a blank row is skipped
    sheet.append([3, "华强北路1号"])
    source = tmp_path / "in.xlsx"
    book.save(source)
    with session_factory(library_engine)() as session:
        summary = match_file(session, source, tmp_path / "out.csv", column="地址")
        with pytest.raises(InvalidInput, match="has: 编号, 地址"):
            match_file(session, source, tmp_path / "x.csv", column="address")
    rows = read(tmp_path / "out.csv")
    assert summary["rows"] == 2 and [r["编号"] for r in rows] == ["1", "3"]
    assert rows[1]["std_address"] == "福田区华强北路1号"


def test_another_name_matches_and_answers_with_the_standard_text(
    library_engine: Engine, tmp_path: Path
) -> None:
    from sqlalchemy import select

    from gridgov.address import service
    from gridgov.address.batch import match_for_api
    from gridgov.address.models import StdAddress
    from gridgov.areas.scope import WHOLE_DISTRICT

    with session_factory(library_engine)() as session:
        target = session.scalars(select(StdAddress).where(StdAddress.text == "福田区华强北路1号")).one()
        before = match_for_api(session, ["华强北电子市场"], covers=lambda _area: True)[0]
        assert before["std_code"] != target.code or before["decision"] != "accept"
        editor = service.Editor(name="tester", scope=WHOLE_DISTRICT)
        service.add_alias(session, target.code, alias="华强北电子市场", editor=editor)
        session.commit()
        after = match_for_api(session, ["华强北电子市场"], covers=lambda _area: True)[0]
    assert after["std_code"] == target.code and after["decision"] == "accept"
    assert after["std_address"] == "福田区华强北路1号"
