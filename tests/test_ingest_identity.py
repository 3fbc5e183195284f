"""Fuzzy identity (issue 6): a person row without any document number is matched by name and birth date,
weighed by dwelling, phone and sex; a sure match merges, a doubtful one makes a record and a review item
that a person decides (merge or keep apart). Both backends."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from gridgov.core.db import session_factory
from gridgov.core.errors import InvalidInput
from gridgov.core.identifiers import mask_name
from gridgov.ingest import service
from gridgov.ingest.mapping import builtin_spec_texts
from gridgov.registry.models import IdentityReview, Person, RegistryChange

HEADER = [
    "申报编号",
    "数据来源",
    "姓名",
    "证件号码",
    "性别",
    "出生日期",
    "联系电话",
    "户籍类型",
    "居住地址",
    "入住日期",
    "申报日期",
]
VALID_ID = "11010519491231002X"
SHARED_DB_ID = "440305196001021530"  # for the shared test database: a number no other test uses


def _spec_without_required_ids() -> str:
    text = builtin_spec_texts()["population.self_declared"]
    text = text.replace("name: population.self_declared", "name: test.door_access")
    text = text.replace(
        "id_number: {column: 证件号码, type: resident_id, required: true, on_invalid: flag}",
        "id_number: {column: 证件号码, type: resident_id, on_invalid: flag}",
    )
    assert "name: test.door_access" in text and "resident_id, on_invalid: flag}" in text
    return text


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


@pytest.fixture
def dwellings(demo_world: Path) -> list[dict[str, str]]:
    """Two dwellings of one building and one of another."""
    with (demo_world / "addresses" / "dwellings.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    first = rows[0]
    same_building = next(r for r in rows[1:] if r["std_code"] == first["std_code"])
    elsewhere = next(r for r in rows if r["std_code"] != first["std_code"])
    return [first, same_building, elsewhere]


def test_rows_without_ids_merge_when_sure_and_queue_a_review_when_doubtful(
    world_db: sessionmaker[Session], dwellings: list[dict[str, str]], tmp_path: Path
) -> None:
    home, neighbour, far = (d["address"] for d in dwellings)
    with world_db.begin() as session:
        service.register_source(session, _spec_without_required_ids())

    def row(
        number: str, name: str, id_number: str, born: str, phone: str, address: str, sex: str = "男"
    ) -> list[str]:
        return [
            number,
            "门禁采集",
            name,
            id_number,
            sex,
            born,
            phone,
            "流动",
            address,
            "2024-03-01",
            "2024-03-02",
        ]

    feed = _write(
        tmp_path / "door.csv",
        [
            row("A", "王小明", VALID_ID, "1949-12-31", "13800138000", home),
            # Same name (typed with a space), birth date, dwelling and phone, no ID: surely him.
            row("B", "王 小明", "", "1949-12-31", "138-0013-8000", home),
            # Same name and birth date, but another building and no phone: maybe him.
            row("C", "王小明", "", "1949-12-31", "", far),
            # Nobody like her: a new person.
            row("D", "李四妹", "", "1988-05-06", "", neighbour, "女"),
            # Same name and birth date, but a woman: not him, and not worth asking.
            row("E", "王小明", "", "1949-12-31", "", home, "女"),
        ],
    )
    trace = service.IdentityTrace()
    report = service.ingest_file(world_db, feed, source="test.door_access", trace=trace)
    assert (report.rows, report.accepted, report.merged, report.quarantined) == (5, 4, 1, 0)
    keys = trace.rows
    assert keys[2] == keys[1] and len({keys[1], keys[3], keys[4], keys[5]}) == 4
    with world_db() as session:
        people = session.scalars(select(Person).order_by(Person.id)).all()
        [review] = session.scalars(select(IdentityReview)).all()
        district = service.area_counts(session, service.DISTRICT_CODE)
    by_key = {person.id_hash: person for person in people}
    him, maybe = by_key[keys[1]], by_key[keys[3]]
    assert len(people) == 4 and district["people"] == 4
    assert him.doc_type == "resident_id" and maybe.doc_type == "none" and maybe.id_number_enc is None
    assert (review.record_id, review.candidate_id, review.status) == (maybe.id, him.id, "open")
    assert service.DOUBTFUL_SAME_PERSON <= review.score < service.SURE_SAME_PERSON
    assert review.reasons["dwelling"] == "different"

    # The same file again: every row meets its own record; nothing new, no second review.
    again = service.ingest_file(world_db, feed, source="test.door_access")
    assert (again.accepted, again.merged, again.unchanged) == (0, 0, 5)
    with world_db() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 4
        assert session.scalar(select(func.count()).select_from(IdentityReview)) == 1

    # A person decides: the same man. The doubtful record folds into him and the counts follow.
    with world_db.begin() as session:
        decided = service.decide_identity_review(session, review.id, merge=True, decided_by="demo.district")
        assert decided.status == "merged"
    with world_db() as session:
        assert session.get(Person, maybe.id) is None
        assert session.scalar(select(func.count()).select_from(Person)) == 3
        assert service.area_counts(session, service.DISTRICT_CODE)["people"] == 3
        change = session.scalars(select(RegistryChange).where(RegistryChange.kind == "merged")).one()
        assert change.record_id == him.id and change.details["merged_record"] == maybe.id
        assert service.open_identity_reviews(session) == []
    with world_db.begin() as session, pytest.raises(InvalidInput, match="already decided"):
        service.decide_identity_review(session, review.id, merge=False, decided_by="demo.district")


def test_a_person_first_seen_without_an_id_takes_the_id_when_it_comes(
    world_db: sessionmaker[Session], dwellings: list[dict[str, str]], tmp_path: Path
) -> None:
    home = dwellings[0]["address"]
    with world_db.begin() as session:
        service.register_source(session, _spec_without_required_ids())
    row = [
        "F",
        "门禁采集",
        "赵敏",
        "",
        "女",
        "1949-12-31",
        "13900139000",
        "流动",
        home,
        "2024-03-01",
        "2024-03-02",
    ]
    first = service.ingest_file(world_db, _write(tmp_path / "first.csv", [row]), source="test.door_access")
    assert first.accepted == 1
    # Later the self-declaration brings her ID: the record she has takes it, no second record.
    trace = service.IdentityTrace()
    later = [
        [
            "G",
            "自主申报",
            "赵敏",
            VALID_ID,
            "女",
            "1949-12-31",
            "13900139000",
            "流动",
            home,
            "2024-03-01",
            "2024-03-05",
        ]
    ]
    second = service.ingest_file(
        world_db, _write(tmp_path / "second.csv", later), source="test.door_access", trace=trace
    )
    assert (second.rows, second.accepted) == (1, 1)  # it changed her record: she has an ID now
    with world_db() as session:
        [person] = session.scalars(select(Person)).all()
    assert person.doc_type == "resident_id" and person.id_number_enc is not None
    assert person.id_hash == trace.rows[1] and trace.renamed  # the old key now names her ID's hash
    assert person.lineage["id_number_enc"] == f"b{second.batch}:r1"


def test_the_review_queue_api_and_page(
    engine: Engine,
    client_for: Callable[[str], TestClient],
    dwellings: list[dict[str, str]],
    tmp_path: Path,
) -> None:
    """A doubtful pair in the shared database: listed for the district centre (not for a street centre,
    which holds no ingest.manage), shown on the page, decided once."""
    factory = session_factory(engine)
    spec = _spec_without_required_ids().replace("name: test.door_access", "name: test.review_queue")
    with factory.begin() as session:
        service.register_source(session, spec)
    name = f"欧阳{uuid.uuid4().hex[:4]}"  # a name nobody else in the shared database has
    home, far = dwellings[0]["address"], dwellings[2]["address"]
    feed = _write(
        tmp_path / "review.csv",
        [
            [
                "R1",
                "自主申报",
                name,
                SHARED_DB_ID,
                "男",
                "1960-01-02",
                "",
                "户籍",
                home,
                "2020-01-01",
                "2020-01-02",
            ],
            ["R2", "门禁采集", name, "", "男", "1960-01-02", "", "户籍", far, "2024-01-01", "2024-01-02"],
        ],
    )
    service.ingest_file(factory, feed, source="test.review_queue")
    operator = client_for("district_operator")
    listed = operator.get("/api/ingest/reviews")
    assert listed.status_code == 200
    [mine] = [r for r in listed.json() if r["candidate"]["name"] == mask_name(name)]
    assert name not in listed.text  # names are masked
    assert mine["record"]["doc_type"] == "none" and mine["reasons"]["dwelling"] == "different"
    assert client_for("street_operator").get("/api/ingest/reviews").status_code == 403
    page = operator.get("/ingest/reviews")
    assert (
        page.status_code == 200 and "身份存疑核对" in page.text and f'data-review="{mine["id"]}"' in page.text
    )

    decided = operator.post(f"/api/ingest/reviews/{mine['id']}/decision", json={"merge": False})
    assert decided.status_code == 200 and decided.json()["status"] == "kept_apart"
    again = operator.post(f"/api/ingest/reviews/{mine['id']}/decision", json={"merge": True})
    assert again.status_code == 404
    with factory() as session:
        people = session.scalars(select(Person).where(Person.name == name)).all()
    assert len(people) == 2  # kept apart: both stay
