"""Type-ahead address index: substring semantics, normalisation, ranking, scope, cache refresh."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gridgov.address import service, typeahead
from gridgov.address.models import StdAddress
from gridgov.address.normalize import normalize
from gridgov.address.typeahead import (
    TypeaheadIndex,
    TypeaheadRow,
    load_typeahead,
    search_addresses,
    typeahead_ids,
)
from gridgov.areas.scope import WHOLE_DISTRICT, AreaScope, ScopeLevel
from gridgov.core.db import make_engine, session_factory

GRID_A = "440305001001001"
GRID_B = "440305001001002"
GRID_C = "440305007002003"
COMMUNITY = "440305001002"

ROWS: list[TypeaheadRow] = [
    (1, "D-601", "深圳市南山区南山街道向南路49号南粤山庄10栋601", "dwelling", GRID_A),
    (2, "B-10", "深圳市南山区南山街道向南路49号南粤山庄10栋", "building", GRID_A),
    (3, "B-9", "深圳市南山区南山街道向南路49号南粤山庄9栋", "building", GRID_B),
    (4, "D-1601", "深圳市南山区南山街道向南路49号南粤山庄9栋1601", "dwelling", GRID_B),
    (5, "B-A", "深圳市南山区粤海街道科技南路1号A座", "building", GRID_C),
    (6, "B-3", "深圳市南山区南山街道桃源村三栋", "building", COMMUNITY),  # library text with a numeral
    (7, "T-1", "深圳市南山区南山街道向南路49号南粤山庄会所", "text", None),  # line outside the hierarchy
    (2, "B-10", "南粤会所旁10栋", "building", GRID_A),  # an alias of address 2
]


@pytest.fixture(scope="module")
def index() -> TypeaheadIndex:
    return TypeaheadIndex.build(ROWS)


def codes(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [hit.code for hit in hits]


def test_substring_anywhere_in_the_text(index: TypeaheadIndex) -> None:
    # Not only prefixes: a piece from the middle of the text, across the building/room boundary.
    assert codes(index.search("山庄10栋6")) == ["D-601"]
    assert codes(index.search("庄9栋")) == ["B-9", "D-1601"]
    assert codes(index.search("科技南路1号")) == ["B-A"]
    # Substring, not "shares characters": 10栋 appears in B-10/D-601 only, never in 9栋 or 1601.
    assert set(codes(index.search("10栋"))) == {"B-10", "D-601"}


def test_query_and_library_are_normalised_alike(index: TypeaheadIndex) -> None:
    assert codes(index.search("１０栋６０１")) == ["D-601"]  # full-width digits
    assert codes(index.search("南粤山庄十栋")) == ["B-10", "D-601"]  # Chinese numeral before a unit word
    assert codes(index.search("南粤 山庄 10 栋 601")) == ["D-601"]  # spaces
    assert codes(index.search("向南路49号南粤山庄10幢")) == ["B-10", "D-601"]  # 幢 = 栋
    # The library wrote 三栋; the user types 3栋.
    assert codes(index.search("桃源村3栋")) == ["B-3"]


def test_ranking_buildings_then_text_lines_then_dwellings_shorter_first(index: TypeaheadIndex) -> None:
    hits = index.search("南粤山庄")
    # 9栋 is shorter than 10栋; the two dwellings have texts of the same length: by code.
    assert codes(hits) == ["B-9", "B-10", "T-1", "D-1601", "D-601"]
    assert [hit.level for hit in hits] == ["building", "building", "text", "dwelling", "dwelling"]
    assert [hit.id for hit in hits] == [3, 2, 7, 4, 1]
    assert all(hit.exact for hit in hits)
    # Same level and length: by code.
    same = TypeaheadIndex.build(
        [(1, "Z", "甲路1号", "building", None), (2, "A", "甲路2号", "building", None)]
    )
    assert codes(same.search("甲路")) == ["A", "Z"]


def test_alias_finds_its_address_once(index: TypeaheadIndex) -> None:
    assert codes(index.search("南粤会所旁")) == ["B-10"]
    # 10栋 is in both the text and the alias of address 2: it comes out once.
    assert Counter(codes(index.search("10栋")))["B-10"] == 1


def test_limit_and_single_character(index: TypeaheadIndex) -> None:
    # Shortest texts first: the alias 南粤会所旁10栋 (8 characters), then 桃源村3栋's 16.
    assert codes(index.search("南", limit=2)) == ["B-10", "B-3"]
    assert codes(index.search("A")) == ["B-A"]
    assert codes(index.search("村")) == ["B-3"]
    assert index.search("南", limit=0) == []


def test_no_results(index: TypeaheadIndex) -> None:
    assert index.search("不存在的地方") == []  # characters never seen
    assert index.search("庄南粤") == []  # every character known, never in this order
    assert index.search("   ") == []
    assert index.search("") == []
    assert TypeaheadIndex.build([]).search("南山") == []


def test_fuzzy_hits_fill_up_after_exact_ones() -> None:
    rows: list[TypeaheadRow] = [
        (1, "D", "某路南粤山庄601", "dwelling", None),  # holds "南粤山庄601" as written
        (2, "B", "向南路南粤山庄10栋601", "building", None),  # holds its parts only
        (3, "X", "向南路南粤花园10栋602", "building", None),  # misses a part
    ]
    index = TypeaheadIndex.build(rows)
    hits = index.search("南粤山庄601")
    # The exact dwelling first although buildings rank before dwellings: exact hits always come first.
    assert [(hit.code, hit.exact) for hit in hits] == [("D", True), ("B", False)]
    assert [(hit.code, hit.exact) for hit in index.search("南粤山庄10-601")] == [("B", False)]
    assert codes(index.search("南粤山庄601", limit=1)) == ["D"]


def test_trailing_chinese_numeral_while_typing() -> None:
    # The library says 二十七巷 (normalised: 27巷); the user has typed 涌下村二十七 and not yet 巷.
    index = TypeaheadIndex.build(
        [
            (1, "V", "深圳市南山区南山街道涌下村二十七巷5号", "building", None),
            (2, "W", "深圳市南山区南山街道涌下村二巷1号", "building", None),
            (3, "N", "深圳市南山区南山街道十七湾路1号", "building", None),  # a numeral in a name
        ]
    )
    assert [(hit.code, hit.match) for hit in index.search("涌下村二十七")] == [("V", "exact")]
    assert codes(index.search("涌下村二")) == ["W", "V"]  # 2巷, or the start of 27巷
    assert codes(index.search("十七")) == ["N"]  # the numeral as written still matches names


def test_left_out_admin_names_give_loose_hits(index: TypeaheadIndex) -> None:
    # 南山区向南路: the street (南山街道) left out; 南山向南路: 区 too; 深圳南山区南山…: 市 and 街道.
    for query in (
        "南山区向南路49号南粤山庄10栋",
        "南山向南路49号南粤山庄10栋",
        "深圳南山区南山向南路49号南粤山庄10栋",
    ):
        hits = index.search(query)
        assert [(hit.code, hit.match) for hit in hits] == [("B-10", "loose"), ("D-601", "loose")], query
        assert not any(hit.exact for hit in hits)
    # The admin name must still agree: 粤海 is another street.
    assert index.search("粤海向南路49号") == []
    # Exact hits come before loose ones.
    hits = index.search("南山街道向南路49号南粤山庄10栋")
    assert [hit.match for hit in hits] == ["exact", "exact"]


def test_scope_keeps_only_visible_areas(index: TypeaheadIndex) -> None:
    assert codes(index.search("南粤山庄", visible=lambda area: area == GRID_B)) == ["B-9", "D-1601"]
    assert codes(index.search("南粤山庄", visible=lambda area: area is None)) == ["T-1"]
    assert index.search("南粤山庄", visible=lambda area: False) == []


def _crowded_rows() -> list[TypeaheadRow]:
    """45,000 filler rows, 40,000 rows of 甲路 in grid A ranking first, then 30 of 甲路 in grid B."""
    rows: list[TypeaheadRow] = []
    for i in range(45_000):
        rows.append((len(rows) + 1, f"F{i:06d}", f"乙街{i}号", "building", GRID_C))
    for i in range(40_000):
        rows.append((len(rows) + 1, f"A{i:06d}", f"甲路{i}号", "building", GRID_A))
    for i in range(30):
        rows.append((len(rows) + 1, f"B{i:06d}", f"甲路{i}号楼下小卖部", "building", GRID_B))
    return rows


@pytest.fixture(scope="module")
def crowded() -> TypeaheadIndex:
    return TypeaheadIndex.build(_crowded_rows())


def _counting(allowed: str) -> tuple[Callable[[str | None], bool], Counter[str | None]]:
    calls: Counter[str | None] = Counter()

    def visible(area: str | None) -> bool:
        calls[area] += 1
        return area == allowed

    return visible, calls


@pytest.mark.parametrize(
    ("query", "fuzzy"),
    [
        # A posting of 40,030 documents, grid A's 40,000 first: the search switches to grid B's own.
        ("甲路", []),
        # In every document (no posting): the text scan, then the switch.
        ("号", []),
        # A posting plus the substring check: 11 exact hits in grid B, then 甲路21号 holds 甲路 and 1 apart.
        ("甲路1", ["B000021"]),
    ],
)
def test_narrow_scope_still_fills_the_limit(crowded: TypeaheadIndex, query: str, fuzzy: list[str]) -> None:
    visible, calls = _counting(GRID_B)
    hits = crowded.search(query, limit=20, visible=visible)
    expected = [f"B{i:06d}" for i in range(30) if normalize(query) in normalize(f"甲路{i}号楼下小卖部")]
    assert codes(hits) == (expected + fuzzy)[:20]
    assert [hit.exact for hit in hits] == [True] * min(20, len(expected)) + [False] * len(fuzzy)
    # visible() is asked once per area, never once per address.
    assert max(calls.values()) == 1
    assert set(calls) <= {GRID_A, GRID_B, GRID_C, None}


def test_wide_scope_reads_the_first_chunk_only(crowded: TypeaheadIndex) -> None:
    visible, calls = _counting(GRID_A)
    assert codes(crowded.search("甲路", limit=3, visible=visible)) == ["A000000", "A000001", "A000002"]
    assert set(calls) == {GRID_A}


def test_stop_grams_have_no_posting(crowded: TypeaheadIndex) -> None:
    # 号 is in every document: no posting kept, yet the search finds it (text scan).
    assert crowded._key("号") in crowded.stop_keys
    assert crowded._key("甲路") not in crowded.stop_keys
    assert codes(crowded.search("9号", limit=2)) == ["A000009", "F000009"]


# ---------------------------------------------------------------------------------------------------------
# From the database (the demo library), and the cache


def _some_building(session: Session) -> StdAddress:
    building = session.scalars(
        select(StdAddress)
        .where(StdAddress.level == "building", StdAddress.grid_code.is_not(None))
        .order_by(StdAddress.code)
    ).first()
    assert building is not None
    return building


def test_load_from_the_library(engine: Engine) -> None:
    with session_factory(engine)() as session:
        building = _some_building(session)
        index = load_typeahead(session)
        total = session.scalar(select(StdAddress.id).order_by(StdAddress.id.desc()).limit(1))
        assert total is not None and index.addresses > 1000
        hits = index.search(building.text)
        assert hits[0].code == building.code and hits[0].level == "building"
        exact = [hit for hit in hits if hit.exact]
        assert hits[: len(exact)] == exact  # exact hits first
        assert [hit.level for hit in exact[1:]] == ["dwelling"] * (len(exact) - 1)
        texts = dict(
            session.execute(
                select(StdAddress.id, StdAddress.text).where(StdAddress.id.in_([h.id for h in exact]))
            ).all()
        )
        assert all(normalize(building.text) in normalize(texts[hit.id]) for hit in exact)
        # Only the building's own grid: everything found lies in it.
        grid = building.grid_code
        scoped = index.search(building.text[-8:], limit=50, visible=lambda area: area == grid)
        assert scoped
        rows = session.scalars(select(StdAddress).where(StdAddress.id.in_([h.id for h in scoped])))
        assert {row.grid_code for row in rows} == {grid}


def test_search_addresses_returns_rows_in_rank_order(engine: Engine) -> None:
    with session_factory(engine)() as session:
        building = _some_building(session)
        rows = search_addresses(session, building.text, visible=lambda area: True, limit=5)
        assert rows[0].id == building.id
        assert [row.level for row in rows] == sorted(
            (row.level for row in rows), key="building dwelling".find
        )
        assert len(rows) == len({row.id for row in rows}) and len(rows) <= 5
        assert search_addresses(session, building.text, visible=lambda area: False) == []


def _new_building(session: Session, code: str, text: str, grid: str | None) -> StdAddress:
    address = StdAddress(
        code=code, level="building", text=text, grid_code=grid, source="tests", created_at=datetime.now(UTC)
    )
    session.add(address)
    session.flush()
    return address


def everywhere(area: str | None) -> bool:
    return True


def test_changes_are_searchable_at_once_through_the_overlay(engine: Engine) -> None:
    with session_factory(engine)() as session:
        parent = _some_building(session)
        assert typeahead_ids(session, parent.text, visible=everywhere)  # the base index exists
        library = typeahead._library(engine)
        base, builds = library.base, library.builds
        marker = "测试新建大厦九十九栋"
        assert typeahead_ids(session, marker, visible=everywhere) == []
        created = _new_building(
            session, "TEST-TYPEAHEAD-1", f"深圳市南山区南山街道{marker}", parent.grid_code
        )
        # Seen at once (not committed even), without rebuilding the base: the overlay holds the new row.
        assert typeahead_ids(session, "新建大厦99栋", visible=everywhere) == [created.id]
        assert library.base is base and library.builds == builds
        assert library.overlay is not None and created.id in library.overlay.changed
        # Scope applies to the overlay too.
        assert typeahead_ids(session, marker, visible=lambda area: area != parent.grid_code) == []
        # Rank order across base and overlay: a building named like the parent comes among its hits.
        twin = _new_building(session, "TEST-TYPEAHEAD-2", parent.text + "副楼", parent.grid_code)
        hits = typeahead_ids(session, parent.text, visible=everywhere, limit=50)
        assert hits is not None and hits[0] == parent.id and twin.id in hits
        levels = dict(
            session.execute(select(StdAddress.id, StdAddress.level).where(StdAddress.id.in_(hits))).all()
        )
        dwellings = [hits.index(i) for i in hits if levels[i] == "dwelling"]
        assert dwellings and hits.index(twin.id) < min(dwellings)  # buildings first, base or overlay
        # An edited text: the base's old text no longer finds it; a retired address is gone.
        parent.text = parent.text.replace("深圳市", "深圳市测试改名")
        parent.revision = service.library_version(session).revision + 1
        session.flush()
        assert typeahead_ids(session, "测试改名", visible=everywhere)[:1] == [parent.id]  # type: ignore[index]
        created.valid_to = datetime.now(UTC).date()
        created.revision = service.library_version(session).revision + 1
        session.flush()
        assert typeahead_ids(session, marker, visible=everywhere) == []
        session.rollback()
        # Rolled back: the version is the base's again, and the base never held those rows.
        assert typeahead_ids(session, marker, visible=everywhere) == []
        assert typeahead_ids(session, parent.text, visible=everywhere)[:1] == [parent.id]  # type: ignore[index]
        assert library.base is base


def test_service_search_uses_the_index(engine: Engine) -> None:
    with session_factory(engine)() as session:
        building = _some_building(session)
        scope = AreaScope.of(ScopeLevel.grids, [building.grid_code or ""])
        # Normalised: Chinese numerals, full-width digits and spaces find the same address as the index.
        spaced = " ".join(building.text[-10:])
        found = service.search(session, spaced, scope=scope, limit=5)
        assert found and found[0].id == building.id
        assert all(a.grid_code == building.grid_code for a in found)
        like = service.like_search(session, building.text, scope=scope, limit=5)
        assert like[0].id == building.id


def test_a_large_library_is_built_in_the_background(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Startup starts the build; requests meanwhile get the LIKE answer instead of waiting for it."""
    other = make_engine(engine.url.render_as_string(hide_password=False))  # a library of its own
    gate = threading.Event()
    built = typeahead.load_typeahead

    def slow(session: Session) -> TypeaheadIndex:
        assert gate.wait(30)
        return built(session)

    monkeypatch.setattr(typeahead, "BACKGROUND_FROM", 0)
    monkeypatch.setattr(typeahead, "load_typeahead", slow)
    try:
        with session_factory(other)() as session:
            building = _some_building(session)
            assert typeahead.warm_up(other)
            assert not typeahead.wait_for_index(other, timeout=0.05)  # still building
            found = service.search(session, building.text, scope=WHOLE_DISTRICT, limit=5)
            assert [a.id for a in found] == [
                a.id for a in service.like_search(session, building.text, scope=WHOLE_DISTRICT, limit=5)
            ]
            gate.set()
            assert typeahead.wait_for_index(other, timeout=30)
            assert typeahead._library(other).base is not None
            assert service.search(session, building.text, scope=WHOLE_DISTRICT, limit=5)[0].id == building.id
    finally:
        gate.set()
        typeahead.wait_for_index(other, timeout=30)
        other.dispose()


def test_library_version_is_cheap_and_complete(session: Session) -> None:
    version = service.library_version(session)
    assert version == typeahead.library_version(session)
    assert version.max_id == session.scalar(select(func.max(StdAddress.id)))
    statement = select(StdAddress.id).where(StdAddress.id > version.max_id)
    assert session.scalars(statement).first() is None
