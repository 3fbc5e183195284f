"""The business register through the import pipeline (issue 6), on the synthetic world, both backends."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from gridgov.ingest import service
from gridgov.ingest.models import QuarantineRow
from gridgov.registry.models import LegalEntity

SOURCE = "entities.business_register"
FEED = "entities/business_register.csv"


@pytest.fixture(scope="module")
def truth(demo_world: Path) -> dict[str, dict[str, str]]:
    with (demo_world / "entities" / "business_register_truth.csv").open(encoding="utf-8-sig") as handle:
        return {row["record_id"]: row for row in csv.DictReader(handle)}


def test_the_register_lands_one_entity_per_credit_code_and_re_imports_unchanged(
    world_db: sessionmaker[Session], demo_world: Path, truth: dict[str, dict[str, str]]
) -> None:
    report = service.ingest_file(world_db, demo_world / FEED, source=SOURCE)
    assert report.rows == len(truth)
    assert report.accepted + report.merged + report.unchanged + report.quarantined == report.rows
    planted = {record for record, row in truth.items() if row["broken"]}
    taken = [row for row in truth.values() if not row["broken"]]
    entities = {row["entity_id"] for row in taken}
    with world_db() as session:
        held = set(session.scalars(select(QuarantineRow.row_id)))
        stored = session.execute(select(LegalEntity.credit_code, LegalEntity.credit_code_valid)).all()
        district = service.area_counts(session, service.DISTRICT_CODE)
        active = session.scalar(
            select(func.count()).select_from(LegalEntity).where(LegalEntity.status == "active")
        )
        placed = session.scalar(
            select(func.count()).select_from(LegalEntity).where(LegalEntity.grid_code.is_not(None))
        )
    assert held == planted and report.quarantined == len(planted)
    assert len(stored) == len(entities) == report.accepted
    assert report.merged == len(taken) - len(entities)
    # Codes failing their check are kept as written and flagged for verification, not dropped.
    invalid = {row["entity_id"] for row in taken if row["credit_valid"] == "0"}
    assert invalid and sum(1 for _code, valid in stored if not valid) == len(invalid)
    assert report.flagged >= len(invalid)
    assert district["entities"] == active and placed > 0.9 * len(stored)

    again = service.ingest_file(world_db, demo_world / FEED, source=SOURCE)
    assert (again.accepted, again.merged, again.quarantined) == (0, 0, len(planted))
    assert again.unchanged == len(taken)
    with world_db() as session:
        assert session.scalar(select(func.count()).select_from(LegalEntity)) == len(entities)
        assert service.area_counts(session, service.DISTRICT_CODE)["entities"] == active
