"""The housing register through the import pipeline (issue 6): buildings and dwellings keyed by their
standard address code, placed through the address library, counted per area, a change of use recorded."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from gridgov.address.models import StdAddress
from gridgov.ingest import service
from gridgov.registry.models import Building, Dwelling, RegistryChange


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def test_buildings_and_dwellings_land_placed_counted_and_a_change_of_use_is_recorded(
    world_db: sessionmaker[Session], demo_world: Path, tmp_path: Path
) -> None:
    buildings_feed = demo_world / "addresses" / "standard_addresses.csv"
    dwellings_feed = demo_world / "addresses" / "dwellings.csv"
    buildings = service.ingest_file(world_db, buildings_feed, source="housing.buildings")
    dwellings = service.ingest_file(world_db, dwellings_feed, source="housing.dwellings")
    building_rows, dwelling_rows = _rows(buildings_feed), _rows(dwellings_feed)
    assert (buildings.rows, buildings.accepted, buildings.quarantined) == (len(building_rows),) * 2 + (0,)
    assert (dwellings.rows, dwellings.accepted, dwellings.quarantined) == (len(dwelling_rows),) * 2 + (0,)
    uses = Counter(row["use"].replace("-", "_") for row in dwelling_rows)
    with world_db() as session:
        district = service.area_counts(session, service.DISTRICT_CODE)
        # Every record sits in the grid its code has in the address library.
        misplaced = session.scalar(
            select(func.count())
            .select_from(Dwelling)
            .join(StdAddress, StdAddress.code == Dwelling.code)
            .where(StdAddress.grid_code != Dwelling.grid_code)
        )
        unplaced = session.scalar(
            select(func.count()).select_from(Building).where(Building.grid_code.is_(None))
        )
        tower = session.scalars(select(Building).where(Building.structure == "tower")).first()
        one_grid = session.scalar(select(Dwelling.grid_code).limit(1))
        in_grid = session.scalar(
            select(func.count()).select_from(Dwelling).where(Dwelling.grid_code == one_grid)
        )
        assert one_grid is not None
        grid_counts = service.area_counts(session, one_grid)
    assert misplaced == 0 and unplaced == 0
    assert tower is not None and tower.floors and tower.use
    assert district["buildings"] == len(building_rows) and district["dwellings"] == len(dwelling_rows)
    assert {use: district.get(f"dwellings_{use}") for use in uses} == dict(uses)
    assert grid_counts["dwellings"] == in_grid

    # Re-import: nothing changes.
    again = service.ingest_file(world_db, dwellings_feed, source="housing.dwellings")
    assert (again.accepted, again.merged, again.unchanged) == (0, 0, len(dwelling_rows))

    # The register says a vacant dwelling is now rented: a change, recorded, and the counts follow.
    vacant = next(row for row in dwelling_rows if row["use"] == "vacant")
    changed = tmp_path / "dwellings_changed.csv"
    with changed.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(vacant))
        writer.writeheader()
        writer.writerow({**vacant, "use": "出租"})
    report = service.ingest_file(world_db, changed, source="housing.dwellings")
    assert (report.accepted, report.unchanged) == (1, 0)
    with world_db() as session:
        dwelling = session.scalars(select(Dwelling).where(Dwelling.code == vacant["dwelling_code"])).one()
        change = session.scalars(select(RegistryChange).where(RegistryChange.kind == "dwelling_use")).one()
        after = service.area_counts(session, service.DISTRICT_CODE)
    assert dwelling.use == "rented" and dwelling.lineage["use"] == f"b{report.batch}:r1"
    assert change.record_id == dwelling.id and change.details == {"from": "vacant", "to": "rented"}
    assert after["dwellings_rented"] == uses["rented"] + 1 and after["dwellings_vacant"] == uses["vacant"] - 1
    assert after["dwellings"] == len(dwelling_rows)
