"""The rental register through the import pipeline (issue 6), on the synthetic world, both backends."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from gridgov.ingest import service
from gridgov.ingest.models import QuarantineRow
from gridgov.registry.models import Rental, RentalTenant


@pytest.fixture(scope="module")
def truth(demo_world: Path) -> dict[str, dict[str, str]]:
    with (demo_world / "housing" / "rentals_truth.csv").open(encoding="utf-8-sig") as handle:
        return {row["record_id"]: row for row in csv.DictReader(handle)}


def test_rentals_land_once_each_with_their_tenants_linked_to_people(
    world_db: sessionmaker[Session], demo_world: Path, truth: dict[str, dict[str, str]]
) -> None:
    # People first, so tenants can be linked to them.
    service.ingest_file(
        world_db, demo_world / "population" / "residents_self_declared.csv", source="population.self_declared"
    )
    [feed] = [p for p in (demo_world / "housing").glob("rentals.*") if p.suffix in (".csv", ".xlsx")]
    report = service.ingest_file(world_db, feed, source="housing.rentals")
    assert report.rows == len(truth)
    assert report.accepted + report.merged + report.unchanged + report.quarantined == report.rows
    planted = {record for record, row in truth.items() if row["broken"]}
    taken = [row for row in truth.values() if not row["broken"]]
    rentals = {row["rental_id"] for row in taken}
    with world_db() as session:
        held = set(
            session.scalars(select(QuarantineRow.row_id).where(QuarantineRow.batch_id == report.batch))
        )
        stored = session.scalar(select(func.count()).select_from(Rental))
        tenants = session.scalar(select(func.count()).select_from(RentalTenant))
        linked = session.scalar(
            select(func.count()).select_from(RentalTenant).where(RentalTenant.person_id.is_not(None))
        )
        district = service.area_counts(session, service.DISTRICT_CODE)
    assert held == planted and report.quarantined == len(planted)
    assert stored == len(rentals) == report.accepted
    assert district["rentals"] == stored
    assert tenants > stored and linked > 0.8 * tenants  # most tenants also declared themselves

    again = service.ingest_file(world_db, feed, source="housing.rentals")
    assert (again.accepted, again.merged) == (0, 0) and again.unchanged == len(taken)
    with world_db() as session:
        assert session.scalar(select(func.count()).select_from(Rental)) == stored
        assert session.scalar(select(func.count()).select_from(RentalTenant)) == tenants
