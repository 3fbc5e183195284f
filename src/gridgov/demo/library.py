"""The synthetic world's standard address library as matcher records, straight from its files.

What `address.batch.load_library` reads from the database after `gridgov demo load`, without the database:
the benchmarks and tests match against the full library (1.1 million records at scale 1.0) in seconds.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from gridgov.address.batch import Areas, Library
from gridgov.address.match import StdRecord


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield from csv.DictReader(handle)


def world_library(folder: Path) -> Library:
    """Buildings with their areas, dwellings under their building (areas inherited)."""
    records: list[StdRecord] = []
    areas: dict[str, Areas] = {}
    for row in _rows(folder / "addresses" / "standard_addresses.csv"):
        records.append(
            StdRecord(
                code=row["std_code"],
                text=row["address"],
                road=row["road"] or None,
                house_number=row["house_number"] or None,
                site_name=row["site_name"] or None,
                building=row["building_label"] or None,
            )
        )
        areas[row["std_code"]] = (row["street_code"], row["community_code"], row["grid_code"])
    for row in _rows(folder / "addresses" / "dwellings.csv"):
        records.append(
            StdRecord(
                code=row["dwelling_code"],
                text=row["address"],
                unit=row["unit"] or None,
                floor=int(row["floor"]) if row["floor"] else None,
                room=row["room"] or None,
                parent=row["std_code"],
            )
        )
    return Library(tuple(records), areas)
