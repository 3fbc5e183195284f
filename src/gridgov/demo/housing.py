"""Line 2, housing: rental registrations (出租屋登记) as the housing-rental office exports them.

One record per rented dwelling. Landlords (assumptions): an urban-village house has one landlord
for all its rooms — the villager who owns it (85 %, sharing the village's clan surname two times in
three) or a sub-landlord (二房东, 15 %) who leases the whole house; estate flats are let by their
owners, some of whom own several neighbouring flats. Contracts run 1, 2 or 3 years from the
tenants' move-in and are renewed; one in ten registrations was never renewed (it shows an
expired contract). Declared occupancy is understated in ~12 % of rentals and in most group rentals.

Injected: ~2 % invalid landlord IDs, ~1.5 % duplicates, ~0.5 % broken rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np

from gridgov.demo import names as nm
from gridgov.demo import rows as rw
from gridgov.demo import schema, textmess
from gridgov.demo.names import NameMaker
from gridgov.demo.persons import EPOCH, IdRegistry, corrupt_id, make_people, sample_ages
from gridgov.demo.population import Population
from gridgov.demo.world import USE_RENTED, VILLAGE, World
from gridgov.demo.writers import TableWriter, table_path

HEADER = schema.headers("housing/rentals")
TRUTH_HEADER = [
    "record_id",
    "rental_id",
    "true_dwelling_code",
    "true_std_code",
    "true_grid_code",
    "true_address",
    "landlord_id",
    "landlord_kind",
    "landlord_true_id_number",
    "landlord_id_valid",
    "landlord_id_defect",
    "actual_occupants",
    "declared_occupants",
    "occupancy_mismatch",
    "group_rental",
    "is_duplicate_of",
    "duplicate_kind",
    "broken",
    "address_defects",
]
DATES = [5, 6, 9]


def write_rentals(
    world: World,
    pop: Population,
    out_dir: Path,
    *,
    rng: np.random.Generator,
    registry: IdRegistry,
    as_of: date,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, object]:
    rented = np.flatnonzero(world.d_use == USE_RENTED)
    n = len(rented)
    building = world.d_building[rented].astype(np.int64)
    village = world.b_kind[building] == VILLAGE
    site = world.b_site[building]

    # --- landlords: one per village house, owners (some with several flats) elsewhere
    landlord = np.zeros(n, dtype=np.int64)
    new_building = np.concatenate([[True], building[1:] != building[:-1]])
    new_site = np.concatenate([[True], site[1:] != site[:-1]])
    fresh = np.where(village, new_building, new_site | (rng.random(n) < 0.85))
    landlord = np.cumsum(fresh) - 1
    n_landlords = int(landlord[-1]) + 1 if n else 0
    first = np.flatnonzero(fresh)
    l_village = village[first]
    l_sub = l_village & (rng.random(n_landlords) < 0.15)
    l_kind = np.where(l_sub, "sublandlord", "owner")
    ages = np.where(
        l_village & ~l_sub,
        sample_ages(rng, n_landlords, minimum=40, maximum=82),
        np.where(
            l_sub,
            sample_ages(rng, n_landlords, minimum=28, maximum=56),
            sample_ages(rng, n_landlords, minimum=28, maximum=78),
        ),
    )
    group = np.where(
        l_village & ~l_sub,
        rng.choice(3, size=n_landlords, p=[0.8, 0.2, 0.0]),
        np.where(
            l_sub,
            rng.choice(3, size=n_landlords, p=[0.0, 0.4, 0.6]),
            rng.choice(3, size=n_landlords, p=[0.4, 0.3, 0.3]),
        ),
    )
    lords = make_people(rng, registry, ages=ages, group=group, as_of=as_of)
    # Villages are clan villages: most owners share one surname.
    clan_of_site = {}
    gd_names = nm.SURNAMES_GUANGDONG[0]
    offset = len(nm.SURNAMES_NATIONAL[0])
    for s in np.unique(site[first][l_village & ~l_sub]):
        clan_of_site[int(s)] = offset + int(rng.integers(0, 30)) % len(gd_names)
    clan = np.array([clan_of_site.get(int(s), -1) for s in site[first]], dtype=np.int64)
    use_clan = (clan >= 0) & ~l_sub & (rng.random(n_landlords) < 0.65)
    lords.surname = np.where(use_clan, clan, lords.surname)

    # --- contracts
    today = (as_of - EPOCH).days
    occ_start = pop.start[rented]
    occ_count = pop.count[rented]
    m0 = pop.move_in[occ_start]
    years = rng.choice([1, 2, 3], size=n, p=[0.7, 0.2, 0.1])
    length = years * 365
    k = np.maximum((today - m0) // length, 0)
    stale = rng.random(n) < 0.10
    k = np.where(stale, np.maximum(k - 1, 0), k)
    start = m0 + k * length
    end = start + length - 1
    registered_at = np.minimum(start + rng.integers(0, 30, n), today)
    declared = occ_count.copy()
    under = ((occ_count >= 2) & (rng.random(n) < 0.12)) | (pop.group_rental[rented] & (rng.random(n) < 0.7))
    declared = np.where(
        under, np.maximum(1, occ_count - 1 - (rng.random(n) * (occ_count - 1)).astype(np.int64)), declared
    )
    declared = np.minimum(declared, occ_count)

    plan = rw.make_plan(rng, n)
    rows = plan.rows
    invalid_row = rw.pick_rows(rng, (plan.duplicate_of < 0) & (plan.broken == 0), rw.INVALID_ID_RATE, rows)
    r = rw.py_random(rng)
    maker = NameMaker()
    record_ids = plan.record_ids("ZL")
    tally = rw.DefectTally(rows=rows)
    path = table_path(out_dir / "housing", "rentals", rows, prefer_xlsx=True)
    truth_path = out_dir / "housing" / "rentals_truth.csv"
    with (
        TableWriter(path, HEADER, sheet="出租屋登记") as feed,
        TableWriter(truth_path, TRUTH_HEADER) as truth,
    ):
        out = rw.FeedRows(plan, record_ids, feed, truth, tally, _tally)
        row: list[object]
        truth_row: list[object]
        for lo in range(0, rows, rw.CHUNK):
            hi = min(rows, lo + rw.CHUNK)
            idx = plan.source[lo:hi]
            start_s = rw.days_to_iso(start[idx])
            end_s = rw.days_to_iso(end[idx])
            reg_s = rw.days_to_iso(registered_at[idx])
            for j in range(hi - lo):
                i = lo + j
                q = int(idx[j])
                if out.write_exact_duplicate(i):
                    continue
                dup_of = int(plan.duplicate_of[i])
                d = int(rented[q])
                b = int(world.d_building[d])
                address, defects = textmess.messy_dwelling(
                    world.b_parts[b], int(world.d_unit[d]), int(world.d_room[d]), r, textmess.LANDLORD
                )
                lid = int(landlord[q])
                valid_id = lords.id_number(lid)
                id_number, id_defect = valid_id, ""
                if dup_of >= 0:
                    id_number, id_defect = str(out.copies[dup_of][0][3]), str(out.copies[dup_of][1][10])
                elif invalid_row[i]:
                    id_number, id_defect = corrupt_id(r.random(), r.random(), valid_id)
                s0 = int(pop.start[d])
                tenants = [pop.batch.id_number(s0 + t) for t in range(int(declared[q]))]
                if dup_of >= 0 and len(tenants) > 1 and r.random() < 0.5:
                    tenants.reverse()  # the near duplicate lists the same tenants in another order
                row = [
                    record_ids[i],
                    address,
                    lords.name(maker, lid),
                    id_number,
                    str(int(lords.phone[lid])),
                    start_s[j],
                    end_s[j],
                    int(declared[q]),
                    ";".join(tenants),
                    reg_s[j],
                ]
                mismatch = int(declared[q]) != int(occ_count[q])
                truth_row = [
                    record_ids[i],
                    f"R{q + 1:08d}",
                    world.dwelling_code(d),
                    world.b_std_code[b],
                    world.grid_code_of_building(b),
                    world.dwelling_address(d),
                    f"L{lid + 1:07d}",
                    str(l_kind[lid]),
                    valid_id,
                    "0" if id_defect else "1",
                    id_defect,
                    int(occ_count[q]),
                    int(declared[q]),
                    "1" if mismatch else "0",
                    "1" if pop.group_rental[d] else "0",
                    *out.truth_tail(i, defects),
                ]
                out.write(i, row, truth_row, r, required=[1, 2, 4], dates=DATES)
            if progress:
                progress("rentals", hi, rows)
    stats = tally.as_dict(
        {"duplicate": rw.DUPLICATE_RATE, "broken": rw.BROKEN_RATE, "landlord_id_invalid": rw.INVALID_ID_RATE}
    )
    stats["landlords"] = n_landlords
    stats["file"] = path.name
    return stats


def _tally(tally: rw.DefectTally, truth_row: list[object]) -> None:
    if truth_row[9] == "0":
        tally.add("landlord_id_invalid")
        tally.add(f"landlord_id_invalid:{truth_row[10]}")
    if truth_row[13] == "1":
        tally.add("occupancy_mismatch")
    for name in filter(None, str(truth_row[18]).split(";")):
        tally.add(f"address:{name}")
