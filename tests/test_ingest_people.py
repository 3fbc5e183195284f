"""The population feed through the import pipeline (issue 6), on the synthetic world, both backends:
every row ends in one count, the quarantine holds exactly the rows the generator broke, duplicates merge
into one person, a re-import changes nothing, and a batch stopped half-way resumes without duplicates."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from gridgov.ingest import service
from gridgov.ingest.models import Batch, QuarantineRow
from gridgov.registry.models import Person

SOURCE = "population.self_declared"
FEED = "population/residents_self_declared.csv"


@pytest.fixture(scope="module")
def truth(demo_world: Path) -> dict[str, dict[str, str]]:
    with (demo_world / "population" / "residents_truth.csv").open(encoding="utf-8-sig") as handle:
        return {row["record_id"]: row for row in csv.DictReader(handle)}


def test_the_population_feed_lands_counted_quarantined_and_merged(
    world_db: sessionmaker[Session], demo_world: Path, truth: dict[str, dict[str, str]]
) -> None:
    report = service.ingest_file(world_db, demo_world / FEED, source=SOURCE, chunk_rows=5000)
    assert report.rows == len(truth)
    assert report.accepted + report.merged + report.unchanged + report.quarantined == report.rows
    planted = {record for record, row in truth.items() if row["broken"]}
    with world_db() as session:
        held = set(session.scalars(select(QuarantineRow.row_id)))
        people = session.scalar(select(func.count()).select_from(Person))
        reasons = session.scalars(select(QuarantineRow.problems)).all()
        district = service.area_counts(session, service.DISTRICT_CODE)
    assert report.quarantined == len(planted)
    # Exactly the broken rows (the generator damages any field but the first, the row id).
    assert held == planted
    assert all(problem["code"] for problems in reasons for problem in problems)
    # One person per true person among the rows that could be taken; the duplicates merged into them.
    persons = {row["person_id"] for row in truth.values() if not row["broken"]}
    assert people == len(persons) == report.accepted
    assert report.merged == len(truth) - len(planted) - len(persons)
    assert district["people"] == people
    assert district["people_registered"] + district["people_floating"] == people
    assert report.flagged > 0  # invalid IDs and phones kept, marked for verification


def test_a_re_import_changes_nothing_and_a_stopped_batch_resumes(
    world_db: sessionmaker[Session], demo_world: Path, truth: dict[str, dict[str, str]]
) -> None:
    path = demo_world / FEED
    seen: list[int] = []

    def stop_after_two_chunks(rows: int) -> None:
        seen.append(rows)
        if len(seen) == 2:
            raise KeyboardInterrupt  # as if the process were stopped between chunks

    with pytest.raises(KeyboardInterrupt):
        service.ingest_file(world_db, path, source=SOURCE, chunk_rows=4000, progress=stop_after_two_chunks)
    resumed = service.ingest_file(world_db, path, source=SOURCE, chunk_rows=4000)
    assert resumed.resumed_from_row == 8001
    assert resumed.rows == len(truth)
    assert resumed.accepted + resumed.merged + resumed.unchanged + resumed.quarantined == len(truth)
    with world_db() as session:
        people = session.scalar(select(func.count()).select_from(Person))
        batches = session.scalars(select(Batch)).all()
    persons = {row["person_id"] for row in truth.values() if not row["broken"]}
    assert people == len(persons) and len(batches) == 1 and batches[0].status == "done"

    again = service.ingest_file(world_db, path, source=SOURCE)
    assert again.resumed_from_row is None
    assert (again.accepted, again.merged) == (0, 0)
    assert again.unchanged == len(truth) - again.quarantined
    with world_db() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == people
        assert service.area_counts(session, service.DISTRICT_CODE)["people"] == people


def test_the_cli_run_killed_mid_batch_and_run_again_leaves_no_duplicates(
    world_db: sessionmaker[Session], demo_world: Path, truth: dict[str, dict[str, str]]
) -> None:
    engine = world_db.kw["bind"]
    env = {**os.environ, "GRIDGOV_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    command = [sys.executable, "-m", "gridgov.cli.main", "ingest", str(demo_world / FEED), "--source", SOURCE]
    first = subprocess.Popen([*command, "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and first.poll() is None:
            with world_db() as session:
                progress = session.scalar(select(func.max(Batch.next_row)))
            if progress and progress > 1:
                break
            time.sleep(0.05)
        assert first.poll() is None, "the import finished before it could be stopped"
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(timeout=30)
    with world_db() as session:
        [stopped] = session.scalars(select(Batch)).all()
    assert stopped.status == "running" and 1 < stopped.next_row <= len(truth)

    again = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["resumed_from_row"] == stopped.next_row
    assert report["rows"] == len(truth)
    counts = [report[k] for k in ("accepted", "merged", "unchanged", "quarantined")]
    assert sum(counts) == report["rows"]
    persons = {row["person_id"] for row in truth.values() if not row["broken"]}
    with world_db() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == len(persons)
        held = session.scalar(select(func.count()).select_from(QuarantineRow))
    assert held == sum(1 for row in truth.values() if row["broken"])


def test_quarantined_rows_download_as_xlsx_with_reasons_and_replay_when_fixed(
    world_db: sessionmaker[Session], demo_world: Path, truth: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    first = service.ingest_file(world_db, demo_world / FEED, source=SOURCE)
    out = tmp_path / "quarantine.xlsx"
    with world_db() as session:
        assert (
            service.export_quarantine(session, first.batch, out, reason="修正后重新导入") == first.quarantined
        )
    book = load_workbook(out)
    sheet = book.active
    assert sheet is not None
    header = [cell.value for cell in sheet[1]]
    assert header[-2:] == ["原文件行号", "不予入库原因"] and header[0] == "申报编号"
    rows = list(sheet.iter_rows(min_row=2))
    reasons = {str(row[0].value): str(row[-1].value) for row in rows}
    garbage = [r for r, t in truth.items() if t["broken"] == "garbage_date"]
    # (A garbage date such as "N/A" reads as an empty cell: then the date is reported missing.)
    assert garbage and all("不是有效日期" in reasons[r] or "期」缺少必填内容" in reasons[r] for r in garbage)
    missing = [r for r, t in truth.items() if t["broken"] == "missing_required"]
    assert all("缺少必填内容" in reasons[r] for r in missing)
    # A person fixes the bad dates the reasons name (nothing else) and imports the file again.
    dates = {"出生日期", "入住日期", "申报日期"}
    for row in (row for row in rows if str(row[0].value) in garbage):
        for i, name in enumerate(header):
            reason = str(row[-1].value)
            if name in dates and (f"「{name}」不是有效日期" in reason or f"「{name}」缺少必填内容" in reason):
                row[i].value = "2020-01-01"
    book.save(out)
    replay = service.ingest_file(world_db, out, source=SOURCE)
    assert replay.rows == first.quarantined
    assert replay.quarantined == first.quarantined - len(garbage)
    assert replay.accepted + replay.merged + replay.unchanged == len(garbage)
    with world_db() as session:
        earlier = select(QuarantineRow.row_id, QuarantineRow.status).where(
            QuarantineRow.batch_id == first.batch
        )
        states = dict(session.execute(earlier).all())
        still_open = session.scalar(
            select(func.count()).select_from(QuarantineRow).where(QuarantineRow.status == "open")
        )
    assert set(states.values()) == {"replayed"}  # every row was sent again: settled by the new batch
    assert still_open == first.quarantined - len(garbage)  # those held again, under the new batch


def test_a_row_that_names_nobody_is_quarantined_not_lost(
    world_db: sessionmaker[Session], demo_world: Path, tmp_path: Path
) -> None:
    from gridgov.ingest.mapping import SPEC_DIR

    shipped = (SPEC_DIR / "population_self_declared.yaml").read_text(encoding="utf-8")
    # A source whose spec insists neither on the ID nor on the birth date (another department's export):
    # a row with neither cannot be told apart from anyone (with a birth date it would be matched by name
    # and birth date: tests/test_ingest_identity.py).
    spec = (
        shipped.replace("name: population.self_declared", "name: population.other")
        .replace(
            "id_number: {column: 证件号码, type: resident_id, required: true, on_invalid: flag}",
            "id_number: {column: 证件号码, type: resident_id, on_invalid: flag}",
        )
        .replace(
            "birth_date: {column: 出生日期, type: date, not_after: today, required: true}",
            "birth_date: {column: 出生日期, type: date, not_after: today}",
        )
    )
    assert spec != shipped
    with world_db() as session:
        service.register_source(session, spec)
        session.commit()
    lines = (demo_world / FEED).read_text(encoding="utf-8-sig").splitlines()[:3]
    header, first, second = lines
    cells = second.split(",")
    cells[header.split(",").index("证件号码")] = ""
    cells[header.split(",").index("出生日期")] = ""
    feed = tmp_path / "other.csv"
    feed.write_text("\n".join([header, first, ",".join(cells)]) + "\n", encoding="utf-8")
    report = service.ingest_file(world_db, feed, source="population.other")
    assert (report.rows, report.quarantined) == (2, 1)
    assert report.accepted + report.merged + report.unchanged == 1
    with world_db() as session:
        [held] = session.scalars(select(QuarantineRow).where(QuarantineRow.batch_id == report.batch)).all()
    assert [p["code"] for p in held.problems] == ["missing_identity"]
    assert service.describe_problem(held.problems[0]) == "「证件号码」为空，无法确认是哪一条记录"


def test_a_worker_process_preparing_chunks_ahead_gives_the_same_registry(
    backend: str, empty_engine_factory: Callable[[str], Engine], demo_world: Path
) -> None:
    """``workers=2`` reads and prepares the next chunks (maps, matches, encrypts) in a forked process
    while one is written: every batch's counts and every dwelling, person, rental and entity (identity,
    place, lineage) come out as with one process."""
    from gridgov.address.service import import_file
    from gridgov.areas.service import load_nanshan_areas
    from gridgov.core.db import session_factory
    from gridgov.registry.models import Dwelling, LegalEntity, Rental

    feeds = (
        ("housing.dwellings", demo_world / "addresses" / "dwellings.csv"),
        (SOURCE, demo_world / FEED),
        ("housing.rentals", demo_world / "housing" / "rentals.xlsx"),
        ("entities.business_register", demo_world / "entities" / "business_register.csv"),
    )
    outcomes = []
    for workers in (1, 2):
        factory = session_factory(empty_engine_factory(backend))
        with factory() as session:
            load_nanshan_areas(session)
            for feed in ("standard_addresses.csv", "dwellings.csv"):
                import_file(session, demo_world / "addresses" / feed, source="demo-world")
            session.commit()
        counts = []
        for source, path in feeds:
            report = service.ingest_file(factory, path, source=source, chunk_rows=3000, workers=workers)
            counts.append({k: v for k, v in report.as_dict().items() if k not in ("batch", "file")})
        with factory() as session:
            records = [
                sorted(
                    (p.id_hash, p.dwelling_code, p.grid_code, json.dumps(p.lineage, sort_keys=True))
                    for p in session.scalars(select(Person))
                ),
                sorted(
                    (r.identity_key, r.grid_code, json.dumps(r.lineage, sort_keys=True))
                    for r in session.scalars(select(Rental))
                ),
                sorted(
                    (
                        e.credit_code,
                        e.grid_code,
                        e.registered_address_code,
                        json.dumps(e.lineage, sort_keys=True),
                    )
                    for e in session.scalars(select(LegalEntity))
                ),
                sorted(
                    (d.code, d.use, d.grid_code, json.dumps(d.lineage, sort_keys=True))
                    for d in session.scalars(select(Dwelling))
                ),
            ]
        outcomes.append((counts, records))
    assert outcomes[0][0] == outcomes[1][0] and outcomes[0][0][1]["accepted"] > 20_000  # the people feed
    assert outcomes[0][1] == outcomes[1][1]


def test_a_file_the_worker_process_cannot_read_fails_the_import_as_in_one_process(
    world_db: sessionmaker[Session], tmp_path: Path
) -> None:
    """With ``workers=2`` the file is read in the worker: what stops it there reaches the caller as the
    same error (and the worker does not outlive the import)."""
    import multiprocessing

    from gridgov.core.errors import InvalidInput

    broken = tmp_path / "rentals.xlsx"
    broken.write_bytes(b"not a workbook")
    for workers in (1, 2):
        with pytest.raises(InvalidInput, match="not a readable XLSX workbook"):
            service.ingest_file(world_db, broken, source="housing.rentals", workers=workers)
    assert not [
        child for child in multiprocessing.active_children() if child.name == "gridgov-ingest-prepare"
    ]


def test_a_chunk_of_no_rows_is_refused_before_anything_is_recorded(
    world_db: sessionmaker[Session], demo_world: Path
) -> None:
    from gridgov.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="at least 1"):
        service.ingest_file(world_db, demo_world / FEED, source=SOURCE, chunk_rows=0)
    with world_db() as session:
        assert session.scalar(select(func.count()).select_from(Batch)) == 0
