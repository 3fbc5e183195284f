"""Keeping the address library by hand: create, edit, retire and names, each with its history row, inside
the editor's scope only; former names still found; retired addresses out of search but still readable.

Runs on SQLite and PostgreSQL (the shared session database): every test makes its own addresses, with
names no other test uses, and never changes the imported library.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gridgov.address import service
from gridgov.address.models import StdAddress
from gridgov.areas.models import Grid
from gridgov.areas.scope import WHOLE_DISTRICT, AreaScope, ScopeLevel
from gridgov.core.db import session_factory
from gridgov.core.errors import Forbidden, InvalidInput

YUEHAI = "440305007000"  # 粤海街道: demo.street's scope
NANTOU = "440305001000"  # 南头街道: outside it


def grid_in(engine: Engine, street: str, index: int = 0) -> Grid:
    with session_factory(engine)() as session:
        grids = session.scalars(
            select(Grid).where(Grid.code.like(f"{street[:9]}%")).order_by(Grid.code)
        ).all()
        session.expunge_all()
        return grids[index]


def new_address(client: TestClient, text: str, grid: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/api/addresses", json={"text": text, "grid_code": grid, **extra})
    assert response.status_code == 201, response.text
    return dict(response.json())


def found(engine: Engine, query: str, scope: AreaScope = WHOLE_DISTRICT) -> list[str]:
    with session_factory(engine)() as session:
        return [a.code for a in service.search(session, query, scope=scope, limit=50)]


def version(engine: Engine) -> tuple[int, ...]:
    with session_factory(engine)() as session:
        return service.library_version(session)


def test_create_edit_retire_with_history_and_names(
    engine: Engine, client_for: Callable[[str], TestClient]
) -> None:
    admin = client_for("admin")
    grid = grid_in(engine, YUEHAI, 3)
    before = version(engine)
    created = new_address(
        admin,
        "南山区粤海街道试验路88号试验大厦",
        grid.code,
        road="试验路",
        house_number="88号",
        site_name="试验大厦",
    )
    code = created["code"]
    # The code is made like the importer's: community code + a hand-made site number.
    assert code.startswith(grid.community_code + "9") and len(code) == 20
    assert created["street_code"] == YUEHAI and created["community_code"] == grid.community_code
    assert created["community_text"] and created["status"] == "active" and created["revision"] > 0
    assert version(engine) != before
    assert code in found(engine, "试验路88号")

    # An edit needs a reason; with one, the old text becomes a former name that search still finds.
    refused = admin.patch(f"/api/addresses/{code}", json={"text": "南山区粤海街道新试验路88号试验大厦"})
    assert refused.status_code == 422
    blank = admin.patch(f"/api/addresses/{code}", json={"text": "x", "reason": "   "})
    assert blank.status_code == 422
    step = version(engine)
    edited = admin.patch(
        f"/api/addresses/{code}",
        json={"text": "南山区粤海街道新试验路88号试验大厦", "road": "新试验路", "reason": "道路更名"},
    )
    assert edited.status_code == 200, edited.text
    detail = edited.json()
    assert detail["text"] == "南山区粤海街道新试验路88号试验大厦" and detail["road"] == "新试验路"
    assert [(a["alias"], a["kind"]) for a in detail["aliases"]] == [
        ("南山区粤海街道试验路88号试验大厦", "former")
    ]
    assert detail["aliases"][0]["valid_to"] is not None
    assert version(engine) != step
    assert code in found(engine, "粤海街道试验路88号")  # the former name
    assert code in found(engine, "新试验路88号")

    # A stale revision is refused: someone else changed the address meanwhile.
    stale = admin.patch(
        f"/api/addresses/{code}",
        json={"building": "A座", "reason": "补充楼栋", "revision": created["revision"]},
    )
    assert stale.status_code == 422 and stale.json()["error"]["code"] == "edit_conflict"
    same = admin.patch(f"/api/addresses/{code}", json={"road": "新试验路", "reason": "无变化"})
    assert same.status_code == 422

    # Common names: added, found, removed.
    step = version(engine)
    named = admin.post(f"/api/addresses/{code}/aliases", json={"alias": "试验医院"})
    assert named.status_code == 201, named.text
    alias = next(a for a in named.json()["aliases"] if a["alias"] == "试验医院")
    assert alias["kind"] == "common"
    assert version(engine) != step
    assert found(engine, "试验医院") == [code]
    again = admin.post(f"/api/addresses/{code}/aliases", json={"alias": "试验医院"})
    assert again.status_code == 422
    step = version(engine)
    removed = admin.delete(f"/api/addresses/{code}/aliases/{alias['id']}")
    assert removed.status_code == 200
    assert all(a["alias"] != "试验医院" for a in removed.json()["aliases"])
    assert found(engine, "试验医院") == [] and version(engine) != step
    assert admin.delete(f"/api/addresses/{code}/aliases/{alias['id']}").status_code == 404

    # Retire, naming the address that replaces it.
    replacement = new_address(admin, "南山区粤海街道新试验路90号试验中心", grid.code)
    assert admin.post(f"/api/addresses/{code}/retire", json={}).status_code == 422
    assert admin.post(f"/api/addresses/{code}/retire", json={"reason": " "}).status_code == 422
    self_replace = admin.post(f"/api/addresses/{code}/retire", json={"reason": "拆除", "replaced_by": code})
    assert self_replace.status_code == 422
    step = version(engine)
    retired = admin.post(
        f"/api/addresses/{code}/retire", json={"reason": "楼栋拆除重建", "replaced_by": replacement["code"]}
    )
    assert retired.status_code == 200, retired.text
    assert retired.json()["status"] == "retired" and retired.json()["valid_to"]
    assert version(engine) != step
    assert code not in found(engine, "新试验路88号") and code not in found(engine, "粤海街道试验路88号")
    shown = admin.get(f"/api/addresses/{code}").json()
    assert shown["status"] == "retired" and shown["replaced_by_code"] == replacement["code"]
    assert admin.patch(f"/api/addresses/{code}", json={"road": "x", "reason": "r"}).status_code == 422
    assert admin.post(f"/api/addresses/{code}/retire", json={"reason": "again"}).status_code == 422

    history = admin.get(f"/api/addresses/{code}/history").json()
    assert [h["action"] for h in history] == ["retire", "alias", "alias", "edit", "create"]
    assert history[0]["reason"] == "楼栋拆除重建"
    assert history[0]["changes"]["replaced_by"] == {"old": None, "new": replacement["code"]}
    edit = history[3]
    assert edit["reason"] == "道路更名" and edit["actor_name"].startswith("demo.")
    assert edit["changes"]["text"] == {
        "old": "南山区粤海街道试验路88号试验大厦",
        "new": "南山区粤海街道新试验路88号试验大厦",
    }
    assert edit["changes"]["road"] == {"old": "试验路", "new": "新试验路"}
    assert history[1]["changes"] == {"alias.common": {"old": "试验医院", "new": None}}


def test_street_operators_manage_only_their_street(
    engine: Engine, client_for: Callable[[str], TestClient]
) -> None:
    street = client_for("street_operator")
    inside, outside = grid_in(engine, YUEHAI, 5), grid_in(engine, NANTOU, 2)
    mine = new_address(street, "南山区粤海街道街道试验路3号", inside.code)
    refused = street.post(
        "/api/addresses", json={"text": "南山区南头街道街道试验路4号", "grid_code": outside.code}
    )
    assert refused.status_code == 403
    by_street = street.post(
        "/api/addresses", json={"text": "南山区南头街道街道试验路5号", "street_code": NANTOU}
    )
    assert by_street.status_code == 403
    # No area at all (a line from another district): district scopes only.
    nowhere = street.post("/api/addresses", json={"level": "text", "text": "福田区某街道试验路6号"})
    assert nowhere.status_code == 403
    # Moving one's own address out of the street is refused too, and nothing changes.
    moved = street.patch(f"/api/addresses/{mine['code']}", json={"grid_code": outside.code, "reason": "移交"})
    assert moved.status_code == 403
    assert street.get(f"/api/addresses/{mine['code']}").json()["grid_code"] == inside.code
    # An address elsewhere cannot be edited, retired or renamed.
    other = new_address(client_for("admin"), "南山区南头街道街道试验路7号", outside.code)
    for response in (
        street.patch(f"/api/addresses/{other['code']}", json={"road": "x", "reason": "r"}),
        street.post(f"/api/addresses/{other['code']}/retire", json={"reason": "r"}),
        street.post(f"/api/addresses/{other['code']}/aliases", json={"alias": "街道试验楼"}),
        street.get(f"/api/addresses/{other['code']}/history"),
    ):
        assert response.status_code == 403, response.text
    # A replacement outside the scope is refused.
    retire = street.post(
        f"/api/addresses/{mine['code']}/retire", json={"reason": "r", "replaced_by": other["code"]}
    )
    assert retire.status_code == 403
    # Roles without address.manage cannot write at all, even inside their scope.
    community = client_for("community_staff")
    assert (
        community.post(
            "/api/addresses", json={"text": "南山区试验路8号", "grid_code": inside.code}
        ).status_code
        == 403
    )
    assert (
        community.patch(f"/api/addresses/{mine['code']}", json={"road": "x", "reason": "r"}).status_code
        == 403
    )
    assert (
        client_for("district_operator")
        .post(f"/api/addresses/{mine['code']}/aliases", json={"alias": "街道试验中心"})
        .status_code
        == 201
    )


def test_area_follows_the_grid_or_the_pin(engine: Engine, client_for: Callable[[str], TestClient]) -> None:
    admin = client_for("admin")
    grid, other = grid_in(engine, YUEHAI, 7), grid_in(engine, NANTOU, 4)
    located = admin.post(
        "/api/addresses",
        json={"text": "南山区粤海街道定位试验路1号", "lon": grid.centroid_lon, "lat": grid.centroid_lat},
    )
    assert located.status_code == 201, located.text
    assert located.json()["grid_code"] == grid.code and located.json()["street_code"] == YUEHAI
    # Moving the pin moves the address into the grid it now lies in.
    moved = admin.patch(
        f"/api/addresses/{located.json()['code']}",
        json={"lon": other.centroid_lon, "lat": other.centroid_lat, "reason": "坐标纠正"},
    ).json()
    assert moved["grid_code"] == other.code and moved["street_code"] == NANTOU
    # Codes that contradict each other, unknown codes, and half a location are refused.
    for body in (
        {"grid_code": grid.code, "community_code": other.community_code},
        {"grid_code": grid.community_code + "999"},
        {"lon": 113.9},
    ):
        response = admin.post("/api/addresses", json={"text": "南山区粤海街道矛盾试验路2号", **body})
        assert response.status_code == 422, body


def test_dwellings_take_their_code_and_area_from_the_building(
    engine: Engine, client_for: Callable[[str], TestClient]
) -> None:
    admin = client_for("admin")
    grid = grid_in(engine, YUEHAI, 9)
    building = new_address(admin, "南山区粤海街道住宅试验路9号试验公寓", grid.code, site_name="试验公寓")
    dwelling = admin.post(
        "/api/addresses",
        json={
            "level": "dwelling",
            "parent_code": building["code"],
            "text": "南山区粤海街道住宅试验路9号试验公寓2单元1203",
            "unit": "2",
            "floor": 12,
            "room": "1203",
        },
    )
    assert dwelling.status_code == 201, dwelling.text
    body = dwelling.json()
    assert body["code"] == building["code"] + "021203"
    assert body["parent_code"] == building["code"] and body["grid_code"] == grid.code
    assert body["site_name"] == "试验公寓"
    orphan = admin.post("/api/addresses", json={"level": "dwelling", "text": "南山区试验公寓1单元101"})
    assert orphan.status_code == 422
    taken = admin.post("/api/addresses", json={"text": "南山区另一试验楼", "code": building["code"]})
    assert taken.status_code == 422


def test_service_rules_directly(session: Session, engine: Engine) -> None:
    grid = grid_in(engine, YUEHAI, 11)
    street_scope = AreaScope.of(ScopeLevel.street, [YUEHAI])
    editor = service.Editor(name="tester", scope=street_scope, user_id=None)
    address = service.create_address(
        session, fields={"text": "南山区粤海街道服务试验路1号", "grid_code": grid.code}, editor=editor
    )
    with pytest.raises(InvalidInput, match="reason"):
        service.edit_address(
            session, address.code, changes={"road": "服务试验路"}, reason=None, editor=editor
        )
    with pytest.raises(InvalidInput, match="reason"):
        service.retire_address(session, address.code, reason="", editor=editor)
    with pytest.raises(InvalidInput, match="cannot be edited"):
        service.edit_address(session, address.code, changes={"level": "text"}, reason="r", editor=editor)
    outsider = service.Editor(name="other", scope=AreaScope.of(ScopeLevel.street, [NANTOU]))
    with pytest.raises(Forbidden):
        service.edit_address(session, address.code, changes={"road": "x"}, reason="r", editor=outsider)
    service.edit_address(
        session,
        address.code,
        changes={"text": "南山区粤海街道服务试验路2号"},
        reason="门牌调整",
        editor=editor,
    )
    # Renaming back drops the former name it had become, and keeps the other one.
    service.edit_address(
        session, address.code, changes={"text": "南山区粤海街道服务试验路1号"}, reason="改回", editor=editor
    )
    record = service.address_record(session, address.code, scope=street_scope)
    assert [(a.alias, a.kind) for a in record.aliases] == [("南山区粤海街道服务试验路2号", "former")]
    history = service.address_history(session, address.code, scope=street_scope)
    assert [h.action for h in history] == ["edit", "edit", "create"]
    assert all(h.actor_name == "tester" for h in history)
    revisions = session.scalars(select(StdAddress.revision).where(StdAddress.id == address.id)).one()
    assert revisions == service.library_version(session)[2]  # the newest change holds the highest number


def test_every_kind_of_change_changes_the_library_version(
    session: Session, engine: Engine, tmp_path: Path
) -> None:
    """The type-ahead index and the matcher trust `library_version`: each change must move it."""
    grid = grid_in(engine, YUEHAI, 13)
    editor = service.Editor(name="tester", scope=WHOLE_DISTRICT)
    seen = [service.library_version(session)]

    def moved() -> bool:
        current = service.library_version(session)
        fresh = current not in seen
        seen.append(current)
        return fresh

    feed = tmp_path / "more.csv"
    feed.write_text(
        "std_code,address,grid_code\n99999999990000000001,南山区粤海街道版本试验路1号," + grid.code + "\n",
        encoding="utf-8",
    )
    assert service.import_file(session, feed, source="tests").imported == 1
    assert moved()  # an import adds rows: a higher id
    assert service.import_file(session, feed, source="tests").unchanged == 1
    assert not moved()  # importing again changes nothing (codes present are left as they are)
    address = service.create_address(
        session, fields={"text": "南山区粤海街道版本试验路2号", "grid_code": grid.code}, editor=editor
    )
    assert moved()
    service.edit_address(session, address.code, changes={"road": "版本试验路"}, reason="r", editor=editor)
    assert moved()
    alias = service.add_alias(session, address.code, alias="版本试验楼", editor=editor)
    assert moved()
    service.remove_alias(session, address.code, alias.id, editor=editor)
    assert moved()  # the name's row is gone: the address's revision says so
    service.retire_address(session, address.code, reason="r", editor=editor)
    assert moved()
    assert all(len(v) == 3 for v in seen)  # maxima only: no count of the table
