"""Line 1, population: who lives in which dwelling, and the self-declaration / door-access feed.

Households (assumptions): an owner-occupied dwelling holds a family (1 + Poisson-like 1.85 more);
a rented urban-village room 1 + 0.55 more; a rented estate flat 1 + 1.25 more; 0.5 % of rented
dwellings are group rentals (群租) with ~8 people. The extras are a single multinomial draw, so the
total is exactly the published 2,130,000 at scale 1.0. Owner households are mostly registered
(户籍, 70 % of heads), tenants mostly floating (流动, 90 %); family members share the head's
surname and place of origin most of the time.

Feed rows: 70 % come from self-declaration (自主申报, free-text address as typed), 30 % from smart
door-access registration (门禁采集: the device knows its building, the resident types the room).
Injected: ~2 % invalid resident IDs (self-declared rows only), ~1.5 % duplicates, ~0.5 % broken rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from gridgov.demo import rows as rw
from gridgov.demo import schema, textmess
from gridgov.demo.names import NameMaker
from gridgov.demo.persons import EPOCH, IdRegistry, PersonBatch, corrupt_id, make_people, sample_ages
from gridgov.demo.world import PEOPLE_TOTAL, USE_OWNER, USE_RENTED, VILLAGE, World, scaled
from gridgov.demo.writers import TableWriter

GROUP_RENTAL_SHARE = 0.005
SOURCES = ("自主申报", "门禁采集")
HEADER = schema.headers("population/residents_self_declared")
TRUTH_HEADER = [
    "record_id",
    "person_id",
    "true_id_number",
    "true_dwelling_code",
    "true_std_code",
    "true_grid_code",
    "true_address",
    "id_valid",
    "id_defect",
    "is_duplicate_of",
    "duplicate_kind",
    "broken",
    "address_defects",
]
REQUIRED = [2, 3, 8]  # name, ID, address: a broken row loses one of them (never the ID: see below)
DATES = [5, 9, 10]


@dataclass
class Population:
    """Everyone, in dwelling order: people of one dwelling are contiguous."""

    dwelling: NDArray[np.int64]  # person → dwelling index
    start: NDArray[np.int64]  # dwelling → first person (or -1 if nobody lives there)
    count: NDArray[np.int64]  # dwelling → number of people
    group_rental: NDArray[np.bool_]  # dwelling → 群租
    registered: NDArray[np.bool_]
    move_in: NDArray[np.int64]  # days since 1970
    batch: PersonBatch

    @property
    def n(self) -> int:
        return len(self.dwelling)


def build_population(
    world: World, *, scale: float, rng: np.random.Generator, registry: IdRegistry, as_of: date
) -> Population:
    n_people = scaled(PEOPLE_TOTAL, scale)
    use = world.d_use
    kind = world.b_kind[world.d_building]
    occupied = np.flatnonzero((use == USE_OWNER) | (use == USE_RENTED))
    if n_people < len(occupied):
        raise ValueError("Scale too small: fewer people than occupied dwellings.")
    rented = use[occupied] == USE_RENTED
    group = np.zeros(world.n_dwellings, dtype=bool)
    rented_idx = occupied[rented]
    n_group = round(GROUP_RENTAL_SHARE * len(rented_idx))
    group[rng.choice(rented_idx, size=n_group, replace=False)] = True
    lam = np.where(~rented, 1.85, np.where(kind[occupied] == VILLAGE, 0.55, 1.25))
    lam = np.where(group[occupied], 7.0, lam)
    extra = rng.multinomial(n_people - len(occupied), lam / lam.sum())
    per = 1 + extra
    dwelling = np.repeat(occupied, per).astype(np.int64)
    count = np.zeros(world.n_dwellings, dtype=np.int64)
    count[occupied] = per
    start = np.full(world.n_dwellings, -1, dtype=np.int64)
    start[occupied] = np.concatenate([[0], np.cumsum(per)[:-1]])
    head = np.zeros(n_people, dtype=bool)
    head[start[occupied]] = True

    owner = use[dwelling] == USE_OWNER
    # Household-level draws, then spread to members.
    hh_registered = rng.random(world.n_dwellings) < np.where(use == USE_OWNER, 0.70, 0.10)
    hh_group = np.where(
        hh_registered,
        rng.choice(3, size=world.n_dwellings, p=[0.45, 0.25, 0.30]),
        rng.choice(3, size=world.n_dwellings, p=[0.0, 0.38, 0.62]) + 0,
    )
    ages = np.where(head, sample_ages(rng, n_people, minimum=20), sample_ages(rng, n_people))
    # Tenants in village rooms are mostly working-age adults: re-draw most children there.
    village_room = (kind[dwelling] == VILLAGE) & ~owner & (ages < 18) & (rng.random(n_people) < 0.7)
    ages = np.where(village_room, sample_ages(rng, n_people, minimum=18, maximum=55), ages)
    registered = np.where(rng.random(n_people) < 0.85, hh_registered[dwelling], rng.random(n_people) < 0.2)
    group_p = np.where(
        rng.random(n_people) < 0.8,
        hh_group[dwelling],
        np.where(
            registered,
            rng.choice(3, size=n_people, p=[0.45, 0.25, 0.30]),
            rng.choice([1, 2], size=n_people, p=[0.38, 0.62]),
        ),
    )
    # Children of registered families were mostly born (and got their ID) in Shenzhen.
    group_p = np.where(registered & (ages < 18) & (rng.random(n_people) < 0.85), 0, group_p)
    batch = make_people(rng, registry, ages=ages, group=group_p, as_of=as_of)
    # Family members share the head's surname (children nearly always, adults less: spouses differ).
    share = owner & ~head & (rng.random(n_people) < np.where(ages < 18, 0.9, 0.35))
    head_of = start[dwelling]
    batch.surname = np.where(share, batch.surname[head_of], batch.surname)
    # Young children have no phone of their own: the form carries a guardian's, or nothing.
    child = ages < 14
    batch.phone = np.where(child, np.where(rng.random(n_people) < 0.6, batch.phone[head_of], 0), batch.phone)
    batch.phone = np.where((ages > 75) & (rng.random(n_people) < 0.3), 0, batch.phone)

    today = (as_of - EPOCH).days
    tenure_years = np.where(
        use == USE_OWNER,
        rng.random(world.n_dwellings) * 18,
        np.minimum(rng.exponential(1.6, world.n_dwellings), 10),
    )
    hh_move_in = today - (tenure_years * 365.25).astype(np.int64)
    move_in = hh_move_in[dwelling]
    # Some joined later (a spouse, a new flatmate).
    later = ~head & (rng.random(n_people) < 0.25)
    move_in = np.where(later, move_in + (rng.random(n_people) * (today - move_in)).astype(np.int64), move_in)
    move_in = np.maximum(move_in, batch.born)
    return Population(
        dwelling=dwelling,
        start=start,
        count=count,
        group_rental=group,
        registered=registered,
        move_in=move_in,
        batch=batch,
    )


def write_residents(
    world: World,
    pop: Population,
    out_dir: Path,
    *,
    rng: np.random.Generator,
    as_of: date,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, object]:
    """Write population/residents_self_declared.csv and its truth file; returns defect statistics."""
    plan = rw.make_plan(rng, pop.n)
    rows = plan.rows
    source_kind = (rng.random(pop.n) < 0.30).astype(np.int8)  # 1: door access
    # Invalid IDs only on self-declared originals (door readers take the chip); never on broken rows.
    row_is_original = plan.duplicate_of < 0
    eligible = row_is_original & (source_kind[plan.source] == 0) & (plan.broken == 0)
    invalid_row = rw.pick_rows(rng, eligible, rw.INVALID_ID_RATE, rows)
    today = (as_of - EPOCH).days
    declared = np.minimum(pop.move_in + rng.integers(0, 60, pop.n), today)
    old = pop.move_in < today - 3 * 365
    declared = np.where(old, np.maximum(today - rng.integers(0, 3 * 365, pop.n), pop.move_in), declared)
    r = rw.py_random(rng)
    maker = NameMaker()
    record_ids = plan.record_ids("SB")
    tally = rw.DefectTally(rows=rows)
    path = out_dir / "population" / "residents_self_declared.csv"
    truth_path = out_dir / "population" / "residents_truth.csv"
    b = pop.batch
    with TableWriter(path, HEADER) as feed, TableWriter(truth_path, TRUTH_HEADER) as truth:
        out = rw.FeedRows(plan, record_ids, feed, truth, tally, _tally_truth)
        row: list[object]
        truth_row: list[object]
        for lo in range(0, rows, rw.CHUNK):
            hi = min(rows, lo + rw.CHUNK)
            people = plan.source[lo:hi]
            born_s = rw.days_to_iso(b.born[people])
            move_s = rw.days_to_iso(pop.move_in[people])
            decl_s = rw.days_to_iso(declared[people])
            for j in range(hi - lo):
                i = lo + j
                p = int(people[j])
                d = int(pop.dwelling[p])
                bld = int(world.d_building[d])
                valid_id = b.id_number(p)
                if out.write_exact_duplicate(i):
                    continue
                dup_of = int(plan.duplicate_of[i])
                kind = int(source_kind[p])
                rates = textmess.DOOR_ACCESS if kind == 1 else textmess.SELF_DECLARED
                address, defects = textmess.messy_dwelling(
                    world.b_parts[bld], int(world.d_unit[d]), int(world.d_room[d]), r, rates
                )
                id_number, id_defect = valid_id, ""
                if dup_of >= 0:
                    # A near duplicate keeps the ID as first written (invalid or not).
                    id_number, id_defect = str(out.copies[dup_of][0][3]), str(out.copies[dup_of][1][8])
                elif invalid_row[i]:
                    id_number, id_defect = corrupt_id(r.random(), r.random(), valid_id)
                phone = int(b.phone[p])
                phone_s = str(phone) if phone else ""
                name = b.name(maker, p)
                if dup_of >= 0:
                    # Near duplicate: typed again a little differently.
                    x = r.random()
                    if x < 0.3 and phone_s:
                        phone_s = f"{phone_s[:3]}-{phone_s[3:7]}-{phone_s[7:]}"
                    elif x < 0.45 and len(name) >= 2:
                        name = name[0] + " " + name[1:]
                row = [
                    record_ids[i],
                    SOURCES[kind],
                    name,
                    id_number,
                    "男" if b.male[p] else "女",
                    born_s[j],
                    phone_s,
                    "户籍" if pop.registered[p] else "流动",
                    address,
                    move_s[j],
                    decl_s[j],
                ]
                truth_row = [
                    record_ids[i],
                    f"P{p + 1:08d}",
                    valid_id,
                    world.dwelling_code(d),
                    world.b_std_code[bld],
                    world.grid_code_of_building(bld),
                    world.dwelling_address(d),
                    "0" if id_defect else "1",
                    id_defect,
                    *out.truth_tail(i, defects),
                ]
                # The ID column is never blanked so that ID validity stays a separate, clean flag.
                out.write(i, row, truth_row, r, required=[2, 8], dates=DATES)
            if progress:
                progress("people", hi, rows)
    targets = {"duplicate": rw.DUPLICATE_RATE, "broken": rw.BROKEN_RATE, "id_invalid": rw.INVALID_ID_RATE}
    return tally.as_dict(targets)


def _tally_truth(tally: rw.DefectTally, truth_row: list[object]) -> None:
    if truth_row[7] == "0":
        tally.add("id_invalid")
        tally.add(f"id_invalid:{truth_row[8]}")
    for name in filter(None, str(truth_row[12]).split(";")):
        tally.add(f"address:{name}")
