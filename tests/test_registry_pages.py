"""The registry pages on the shared registry_world: search, records with their lineage in words, the
building view, care tags only for registry.care, reveal only for personal.reveal, area statistics, scope
and masking."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from gridgov.address.models import StdAddress
from gridgov.core import crypto
from gridgov.core.db import session_factory
from gridgov.registry import service
from gridgov.registry.models import LegalEntity, Person, Rental

COMMUNITY = "440305007003"
STREET = "440305007000"
pytestmark = pytest.mark.usefixtures("registry_world")


def people_in(
    engine: Engine, grid_codes: set[str] | None = None, community: str | None = COMMUNITY
) -> list[Person]:
    with session_factory(engine)() as session:
        rows = session.scalars(
            select(Person)
            .where(
                Person.community_code == community if community else Person.id > 0,
                Person.phone_enc.is_not(None),
            )
            .order_by(Person.id)
        ).all()
        return [p for p in rows if grid_codes is None or p.grid_code in grid_codes]


def worker_grids(engine: Engine) -> set[str]:
    from gridgov.accounts.models import UserAccount

    with session_factory(engine)() as session:
        user = session.scalars(select(UserAccount).where(UserAccount.username == "demo.grid")).one()
        return set(user.scope_codes.split(","))


def clear(person: Person) -> list[str]:
    values = [person.name] if len(person.name) >= 2 else []
    for token, context in (
        (person.id_number_enc, service.ID_CONTEXT),
        (person.phone_enc, service.PHONE_CONTEXT),
    ):
        if token:
            values.append(crypto.decrypt(token, context))
    return values


def test_the_nav_links_the_registry_for_readers_only(client_for: Callable[[str], TestClient]) -> None:
    assert 'href="/registry"' in client_for("grid_worker").get("/").text
    assert 'href="/registry"' not in client_for("contractor").get("/").text
    assert client_for("contractor").get("/registry").status_code == 403


def test_search_page_finds_people_masked_and_in_scope(
    engine: Engine, client_for: Callable[[str], TestClient]
) -> None:
    grids = worker_grids(engine)
    mine = people_in(engine, grids)
    others = [p for p in people_in(engine, community=None) if p.grid_code and p.grid_code not in grids]
    assert mine and others
    client = client_for("grid_worker")
    page = client.post("/registry", data={"kind": "person", "q": mine[0].name})
    assert page.status_code == 200
    assert f'data-key="{mine[0].id}"' in page.text
    assert 'aria-current="page">人员' in page.text
    keys = {int(k) for k in re.findall(r'data-kind="person" data-key="(\d+)"', page.text)}
    assert keys and keys <= {p.id for p in mine}
    # By ID number: exact, and the number is not echoed back into the page.
    number = crypto.decrypt(mine[0].id_number_enc or "", service.ID_CONTEXT)
    by_id = client.post("/registry", data={"kind": "person", "q": number})
    assert f'data-key="{mine[0].id}"' in by_id.text and number not in by_id.text
    # Someone outside her grids is not found by ID.
    other = crypto.decrypt(others[0].id_number_enc or "", service.ID_CONTEXT)
    assert 'data-count="0"' in client.post("/registry", data={"kind": "person", "q": other}).text
    # People are never searched by URL: a GET with a name does not search and does not echo it.
    by_url = client.get("/registry", params={"kind": "person", "q": mine[0].name})
    assert by_url.status_code == 200 and 'id="registry-results"' not in by_url.text
    assert f'value="{mine[0].name}"' not in by_url.text and 'method="post"' in by_url.text
    # The name typed stays in the search box; nobody's ID, phone or other name is on the page.
    assert not [s for s in clear(mine[0])[1:] if s in page.text]
    for person in mine[1:6]:
        assert not [s for s in clear(person) if s in page.text and s != mine[0].name]


def test_search_page_finds_entities_by_credit_code_and_addresses(
    engine: Engine, client_for: Callable[[str], TestClient]
) -> None:
    with session_factory(engine)() as session:
        entity = session.scalars(select(LegalEntity).where(LegalEntity.community_code == COMMUNITY)).first()
        building = session.scalars(
            select(StdAddress).where(StdAddress.level == "building", StdAddress.community_code == COMMUNITY)
        ).first()
    assert entity is not None and building is not None
    client = client_for("community_staff")
    page = client.get("/registry", params={"kind": "entity", "q": entity.credit_code})
    assert f'data-key="{entity.id}"' in page.text and "按信用代码" in page.text
    page = client.get("/registry", params={"kind": "address", "q": building.text})
    assert f'href="/registry/buildings/{building.code}"' in page.text
    assert "form-error" in client.get("/registry", params={"q": "x" * 80}).text  # too long: said, not 500


def test_person_page_shows_lineage_in_words_and_no_clear_personal_data(
    engine: Engine, client_for: Callable[[str], TestClient]
) -> None:
    person = people_in(engine, worker_grids(engine))[0]
    batch, row = person.lineage["name"][1:].split(":r")
    page = client_for("grid_worker").get(f"/registry/people/{person.id}")
    assert page.status_code == 200
    assert f"实有人口自主申报与门禁采集 第{batch}批 第{row}行" in page.text
    assert not [s for s in clear(person) if s in page.text]
    # Grid workers visit key persons (care) but may not reveal.
    assert 'id="care-tags"' in page.text and 'id="reveal-form"' not in page.text
    english = client_for("grid_worker").get(f"/registry/people/{person.id}", params={"lang": "en"})
    assert f"batch {batch}, row {row}" in english.text and "Fields and their sources" in english.text
    # ?lang= sets the language cookie of this shared client: back to Chinese for the tests after this one.
    client_for("grid_worker").get("/", params={"lang": "zh-CN"})


def test_care_tags_are_not_on_the_page_without_registry_care(
    engine: Engine, client_for: Callable[[str], TestClient]
) -> None:
    person = people_in(engine)[0]
    staff = client_for("community_staff")
    created = staff.post(
        f"/api/registry/people/{person.id}/care-tags",
        json={"category": "elderly_alone", "care_every_days": 7},
    )
    assert created.status_code == 201
    try:
        staff_page = staff.get(f"/registry/people/{person.id}").text
        assert "独居老人" in staff_page and 'id="reveal-form"' in staff_page
        auditor_page = client_for("auditor").get(f"/registry/people/{person.id}")
        assert auditor_page.status_code == 200
        assert "独居老人" not in auditor_page.text and "重点人员" not in auditor_page.text
        assert 'id="care-tags"' not in auditor_page.text and "registry.js" not in auditor_page.text
    finally:
        assert staff.post(f"/api/registry/care-tags/{created.json()['id']}/end").status_code == 200


def test_building_page_lists_dwellings_residents_and_rentals(
    engine: Engine, client_for: Callable[[str], TestClient]
) -> None:
    with session_factory(engine)() as session:
        rental = session.scalars(
            select(Rental).where(Rental.community_code == COMMUNITY, Rental.dwelling_code.is_not(None))
        ).first()
        assert rental is not None
        dwelling = session.scalars(select(StdAddress).where(StdAddress.code == rental.dwelling_code)).one()
        building = session.get(StdAddress, dwelling.parent_id)
        assert building is not None
        children = session.scalar(select(func.count()).where(StdAddress.parent_id == building.id))
        residents = session.scalars(
            select(Person).where(Person.dwelling_code.like(f"{building.code[:20]}%"))
        ).all()
    page = client_for("community_staff").get(f"/registry/buildings/{building.code}")
    assert page.status_code == 200
    assert f'<dd id="count-dwellings">{children}</dd>' in page.text
    assert f'data-rental="{rental.id}"' in page.text
    assert f'href="/registry/dwellings/{dwelling.code}"' in page.text
    for person in residents:
        assert not [s for s in clear(person) if s in page.text]
    dwelling_page = client_for("community_staff").get(f"/registry/dwellings/{dwelling.code}")
    assert dwelling_page.status_code == 200 and f'data-rental="{rental.id}"' in dwelling_page.text
    rental_page = client_for("community_staff").get(f"/registry/rentals/{rental.id}")
    assert rental_page.status_code == 200 and "出租屋登记 第" in rental_page.text


def test_record_pages_outside_the_scope_are_refused(
    engine: Engine, client_for: Callable[[str], TestClient]
) -> None:
    grids = worker_grids(engine)
    other = next(p for p in people_in(engine, community=None) if p.grid_code and p.grid_code not in grids)
    with session_factory(engine)() as session:
        entity = session.scalars(select(LegalEntity).where(LegalEntity.street_code != STREET)).first()
    assert entity is not None
    worker = client_for("grid_worker")
    response = worker.get(f"/registry/people/{other.id}", headers={"Accept": "text/html"})
    assert response.status_code == 403 and "<html" in response.text
    assert not [s for s in clear(other) if s in response.text]
    assert worker.get(f"/registry/entities/{entity.id}").status_code == 403
    assert client_for("street_operator").get(f"/registry/entities/{entity.id}").status_code == 403
    assert client_for("district_operator").get(f"/registry/entities/{entity.id}").status_code == 200
    assert worker.get("/registry/stats", params={"area": COMMUNITY}).status_code == 403


def test_stats_page_drills_down_and_shows_the_counts(
    engine: Engine, client_for: Callable[[str], TestClient]
) -> None:
    client = client_for("district_operator")
    district = client.get("/registry/stats")
    assert district.status_code == 200
    assert f'href="/registry/stats?area={STREET}"' in district.text
    street = client.get("/registry/stats", params={"area": STREET})
    assert f'href="/registry/stats?area={COMMUNITY}"' in street.text
    assert 'href="/registry/stats?area=440305000000"' in street.text  # up to the district
    community = client.get("/registry/stats", params={"area": COMMUNITY})
    with session_factory(engine)() as session:
        people = session.scalar(
            select(func.count()).select_from(Person).where(Person.community_code == COMMUNITY)
        )
    row = re.search(rf'<tr data-code="{COMMUNITY}".*?</tr>', community.text, re.S)
    assert row is not None
    assert f'<td class="num" data-metric="people">{people}</td>' in row.group(0)
    assert 'id="stats-chart"' in community.text and "<rect" in community.text
    assert "实有人口对比" in community.text  # the bars compare people by default …
    rentals = client.get("/registry/stats", params={"area": COMMUNITY, "chart": "rentals"})
    assert "出租屋对比" in rentals.text  # … or the figure picked from the table head
    assert "实有人口对比" in client.get("/registry/stats", params={"area": COMMUNITY, "chart": "nope"}).text
    assert "registry.css" in community.text and "cdn" not in community.text.lower()
    # A grid worker's overview: her grids, no drill-up beyond them.
    worker = client_for("grid_worker").get("/registry/stats")
    assert worker.status_code == 200
    assert set(re.findall(r'<tr data-code="(\d{15})"', worker.text)) == worker_grids(engine)
