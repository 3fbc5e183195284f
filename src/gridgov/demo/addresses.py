"""The standard address library as the planning and natural-resources department would hand it over.

``addresses/standard_addresses.csv``: one row per building. ``std_code`` is our standard address
code, 20 digits, following GB/T 39609's region-based idea::

    440305002006 0012 0010
    └ community ┘└site┘└bldg┘
    12-digit community statistical code + 4-digit road/estate/village id within the community
    (numbered in the order the generator lays them out) + 4-digit building number within it.

``house_code_25`` is an opaque 25-digit external code in the style of Shenzhen's house codes
(no structure may be assumed). ``addresses/dwellings.csv``: one row per dwelling or commercial unit;
``dwelling_code`` = ``std_code`` + 2-digit unit (00 when the building has no 单元) + 4-digit room
(floor × 100 + number on the floor, e.g. 0601, 1203). These two files are clean: they are the
reference every messy feed is matched against.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from gridgov.demo import textmess
from gridgov.demo.world import BUILDING_USE, DWELLING_USES, KINDS, World
from gridgov.demo.writers import TableWriter

BUILDING_HEADER = [
    "std_code",
    "house_code_25",
    "street_code",
    "street_name",
    "community_code",
    "community_name",
    "grid_code",
    "road",
    "house_number",
    "site_name",
    "site_kind",
    "site_name_source",
    "building_label",
    "address",
    "building_kind",
    "building_use",
    "floors",
    "units",
    "dwellings",
    "lon",
    "lat",
]
DWELLING_HEADER = ["dwelling_code", "std_code", "unit", "floor", "room", "use", "address"]


def write_addresses(
    world: World, out_dir: Path, *, progress: Callable[[str, int, int], None] | None = None
) -> None:
    directory = out_dir / "addresses"
    n = world.n_buildings
    with TableWriter(directory / "standard_addresses.csv", BUILDING_HEADER) as feed:
        for b in range(n):
            site = world.sites[int(world.b_site[b])]
            community = world.communities[site.community]
            parts = world.b_parts[b]
            feed.write(
                [
                    world.b_std_code[b],
                    world.b_house25[b],
                    community.parent_code,
                    world.street_name_of_community[site.community],
                    community.code,
                    community.name,
                    world.grid_code_of_building(b),
                    parts.road,
                    f"{parts.road_no}号" if parts.road else "",
                    parts.site,
                    site.kind,
                    site.name_source,
                    parts.label,
                    textmess.standard_building(parts),
                    KINDS[int(world.b_kind[b])],
                    _building_use(world, b),
                    int(world.b_floors[b]),
                    int(world.b_units[b]),
                    int(world.b_count[b]),
                    f"{world.b_lon[b]:.6f}",
                    f"{world.b_lat[b]:.6f}",
                ]
            )
    if progress:
        progress("addresses", n, n)
    total = world.n_dwellings
    with TableWriter(directory / "dwellings.csv", DWELLING_HEADER) as feed:
        for lo in range(0, total, 50_000):
            hi = min(total, lo + 50_000)
            for d in range(lo, hi):
                b = int(world.d_building[d])
                unit = int(world.d_unit[d])
                feed.write(
                    [
                        world.dwelling_code(d),
                        world.b_std_code[b],
                        f"{unit}单元" if unit else "",
                        int(world.d_floor[d]),
                        int(world.d_room[d]),
                        DWELLING_USES[int(world.d_use[d])],
                        textmess.standard_dwelling(world.b_parts[b], unit, int(world.d_room[d])),
                    ]
                )
            if progress:
                progress("dwellings", hi, total)


def _building_use(world: World, b: int) -> str:
    kind = int(world.b_kind[b])
    use = BUILDING_USE[kind]
    if use == "residential":
        first, count = int(world.b_first[b]), int(world.b_count[b])
        # A village house with a shop on the ground floor is a 商住 (mixed) building.
        if np.any(world.d_use[first : first + count] == 3):
            return "mixed"
    return use
