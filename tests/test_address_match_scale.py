"""The matcher on a library with buildings and their dwellings (the synthetic world), and its fast paths.

The fast paths (verbatim text, exact keys, one-character slips in a name) must give the answer the full
matcher gives; the world's messy resident addresses must land on their true dwelling (≥ 99%); children are
found through their building; other names (aliases) answer with their address's standard text.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest

from gridgov.address.batch import Library, match_texts
from gridgov.address.match import AUTO_ACCEPT, Matcher, StdRecord
from gridgov.address.normalize import normalize
from gridgov.demo.library import world_library as library_from_files


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def world_library(demo_world: Path) -> Library:
    return library_from_files(demo_world)


@pytest.fixture(scope="module")
def world_matcher(world_library: Library) -> Matcher:
    return Matcher(world_library.records)


@pytest.fixture(scope="module")
def residents(demo_world: Path) -> list[tuple[str, str]]:
    """(messy address, true dwelling code) of the self-declared residents the generator did not break."""
    truth = {r["record_id"]: r for r in _rows(demo_world / "population" / "residents_truth.csv")}
    out = []
    for row in _rows(demo_world / "population" / "residents_self_declared.csv"):
        true = truth[row["申报编号"]]
        if not true["broken"] and true["true_dwelling_code"]:
            out.append((row["居住地址"], true["true_dwelling_code"]))
    return out


def test_messy_resident_addresses_land_on_their_dwelling(
    world_library: Library, residents: list[tuple[str, str]]
) -> None:
    sample = residents[:6000]
    results = match_texts(world_library, [text for text, _ in sample])
    right = sum(result[0] == code for result, (_, code) in zip(results, sample, strict=True))
    assert right / len(sample) >= 0.998, right / len(sample)  # measured 5,993/6,000 (0.9988)
    # Every answer carries the areas of its building (a dwelling's own are not listed).
    hits = [r for r in results if r[0]]
    assert all(r[5] and r[6] and r[7] for r in hits)
    assert all(r[7].startswith(r[6]) and r[6].startswith(r[5][:9]) for r in hits)


def test_fast_paths_give_the_full_matchers_answer_or_a_better_one(
    world_matcher: Matcher, residents: list[tuple[str, str]]
) -> None:
    counted = {"verbatim": 0, "exact": 0, "corrected": 0}
    differ: list[str] = []
    worse: list[str] = []
    for text, code in residents[:3000]:
        norm = normalize(text)
        fast = world_matcher._verbatim(text)
        path = "verbatim"
        if fast is None:
            fast, path = world_matcher._exact(norm), "exact"
        if fast is None:
            fast, path = world_matcher._corrected(norm), "corrected"
        if fast is None:
            continue
        counted[path] += 1
        full = world_matcher.match(text, k=1)[0]
        if full.code != fast.code:
            differ.append(text)
            if fast.code != code:
                worse.append(f"{path}: {text} → {fast.text} / full: {full.text}")
    # Most records take a fast path; a fast answer is the full matcher's, or else the true one.
    assert counted["verbatim"] > 1000 and counted["exact"] > 1000 and counted["corrected"] > 5, counted
    assert worse == []
    assert len(differ) <= 3, differ


def test_a_room_is_found_through_its_building(world_matcher: Matcher, world_library: Library) -> None:
    dwelling = next(r for r in world_library.records if r.parent is not None and r.unit)
    building = next(r for r in world_library.records if r.code == dwelling.parent)
    # Only buildings are indexed for retrieval; the dwelling is reached through its room.
    assert all(r.parent is None for r in world_matcher.records)
    body = building.text.removeprefix("深圳市南山区")
    messy = f"{body}{dwelling.unit}单元{dwelling.room}室"
    assert world_matcher.best(messy).code == dwelling.code  # type: ignore[union-attr]
    assert world_matcher.match(messy, k=1)[0].code == dwelling.code
    # No room named: the building itself.
    assert world_matcher.best(body).code == building.code  # type: ignore[union-attr]
    # A room the building does not have: not some other dwelling, but the building (a level above).
    best = world_matcher.best(f"{body}{dwelling.unit}单元9999")
    assert best is not None and best.code == building.code and best.level != "room"


def test_a_one_character_slip_in_a_name_is_read_when_only_one_name_fits() -> None:
    records = [
        StdRecord("B1", "深圳市南山区沙河街道南新路830号世界花园海华居1栋"),
        StdRecord("B2", "深圳市南山区沙河街道桃园路443号世界花园樱花居1栋"),
        StdRecord("R1", "深圳市南山区沙河街道南新路830号世界花园海华居1栋2301", room="2301", parent="B1"),
        StdRecord("R2", "深圳市南山区沙河街道桃园路443号世界花园樱花居1栋2301", room="2301", parent="B2"),
    ]
    matcher = Matcher(records)
    slip = normalize("世界花园海化居1栋2301")
    assert matcher._exact(slip) is None  # no key: the name is written wrong
    found = matcher._corrected(slip)
    assert found is not None and found.code == "R1" and found.score >= AUTO_ACCEPT
    assert found.reason.startswith("read 世界花园海化居→世界花园海华居")
    assert matcher.best("世界花园海化居1栋2301") == found
    # With 海景居 in the library too, "世界花园海?居" fits two names: nothing is corrected, and the full
    # matcher decides.
    both = Matcher([*records, StdRecord("B3", "深圳市南山区沙河街道南新路832号世界花园海景居1栋")])
    assert both._corrected(slip) is None
    assert both.best("世界花园海化居1栋2301").code == "R1"  # type: ignore[union-attr]


def test_verbatim_texts_and_exact_keys_are_refused_when_ambiguous() -> None:
    records = [
        StdRecord("S1", "深圳市南山区南山街道向南路49号南粤山庄10栋"),
        StdRecord("S2", "深圳市南山区蛇口街道工业路9号南粤山庄10栋"),
    ]
    matcher = Matcher(records)
    # "南粤山庄10栋" is a key of both (road left out): the exact path steps aside ...
    assert matcher._exact(normalize("南粤山庄10栋")) is None
    # ... and the admin names the text gives decide in the full matcher.
    assert matcher.best("南山街道南粤山庄10栋").code == "S1"  # type: ignore[union-attr]
    assert matcher.best("蛇口街道南粤山庄10栋").code == "S2"  # type: ignore[union-attr]
    # A street contradicting the record's: no exact answer.
    assert matcher._exact(normalize("蛇口街道向南路49号南粤山庄10栋")) is None


def test_children_without_a_readable_room_are_indexed_like_any_record() -> None:
    records = [
        StdRecord("B", "深圳市南山区粤海街道科苑路15号科兴科学园"),
        StdRecord("C", "深圳市南山区粤海街道科苑路15号科兴科学园东门岗亭", parent="B"),
    ]
    matcher = Matcher(records)
    assert {r.code for r in matcher.records} == {"B", "C"}
    assert matcher.best("科兴科学园东门岗亭").code == "C"  # type: ignore[union-attr]


def test_the_world_library_keeps_no_object_per_dwelling(
    world_matcher: Matcher, world_library: Library
) -> None:
    dwellings = sum(1 for r in world_library.records if r.parent is not None)
    assert dwellings > 5000
    assert len(world_matcher.records) < len(world_library.records) - dwellings + 10
    # A child rebuilt from its columns is the record that was given, its unit and room in canonical form
    # (they compare the same: "1单元" is unit 1).
    given = {r.code: r for r in itertools.islice((r for r in world_library.records if r.parent), 500)}
    base = len(world_matcher.records)
    rebuilt = [world_matcher._record(base + j) for j in range(len(world_matcher._child_text))]
    checked = 0
    for record in rebuilt:
        if record.code in given:
            original = given[record.code]
            assert (record.text, record.floor, record.parent) == (
                original.text,
                original.floor,
                original.parent,
            )
            assert Matcher._add_components(record) == Matcher._add_components(original)
            checked += 1
    assert checked == len(given)
