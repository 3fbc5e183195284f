"""The tasks API and pages (issue 6): a grid worker sees the tasks of her grids only (403 outside), answers
one through the API or the phone form, and the answer writes back with its lineage; operators filter by
rule, state and overdue; the detection rules are listed and switched by whoever may configure imports.

Both backends, over the shared ``registry_world`` database; the tasks here are made by this module (rule
names of its own) on records picked by id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from gridgov.core import crypto
from gridgov.core.db import session_factory
from gridgov.demo.accounts import DemoAccount
from gridgov.registry.models import Person
from gridgov.tasks import service
from gridgov.tasks.models import Task

RULE = f"api_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def seeded(
    engine: Engine, registry_world: dict[str, Any], demo_accounts: dict[str, DemoAccount]
) -> dict[str, Any]:
    """Tasks of this module: one per resident of the grid worker's grids, and one outside her community."""
    grids = sorted(demo_accounts["grid_worker"].scope["codes"])  # type: ignore[index]
    with session_factory(engine)() as session:
        mine = list(
            session.scalars(
                select(Person)
                .where(Person.grid_code.in_(grids), Person.status == "resident")
                .order_by(Person.id.desc())
                .limit(8)
            )
        )
        other = session.scalars(
            select(Person).where(Person.community_code == "440305003031").order_by(Person.id.desc())
        ).first()
        assert mine and other is not None
        new = [
            service.NewTask(
                rule=RULE,
                target_kind="person",
                target_id=p.id,
                title="接口测试核查",
                what_to_check=f"请核实 {p.address_text}",
                evidence={
                    "fields": ["address_text"],
                    "facts": [{"said": "lives_here", "batch": 1, "row": 2}],
                },
                street_code=p.street_code,
                community_code=p.community_code,
                grid_code=p.grid_code,
            )
            for p in [*mine, other]
        ]
        ids = service.create_tasks(session, new)
        session.commit()
    return {"grids": set(grids), "mine": ids[:-1], "outside": ids[-1], "people": [p.id for p in mine]}


def test_a_grid_worker_lists_the_tasks_of_her_grids_only(
    client_for: Callable[[str], TestClient], seeded: dict[str, Any]
) -> None:
    response = client_for("grid_worker").get("/api/tasks", params={"rule": RULE, "limit": 500})
    assert response.status_code == 200
    body = response.json()
    assert {t["id"] for t in body["items"]} == set(seeded["mine"])
    assert body["total"] == len(seeded["mine"])
    everything = client_for("grid_worker").get("/api/tasks", params={"state": "", "limit": 500}).json()
    assert all(t["grid_code"] in seeded["grids"] for t in everything["items"])
    # Asking for a grid outside the scope by filter does not widen it.
    assert (
        client_for("grid_worker").get("/api/tasks", params={"grid_code": "440305003031001"}).json()["total"]
        == 0
    )


def test_a_task_outside_the_scope_is_refused(
    client_for: Callable[[str], TestClient], seeded: dict[str, Any]
) -> None:
    worker = client_for("grid_worker")
    assert worker.get(f"/api/tasks/{seeded['outside']}").status_code == 403
    refused = worker.post(f"/api/tasks/{seeded['outside']}/answer", json={"answer": "confirmed"})
    assert refused.status_code == 403
    assert worker.get("/api/tasks/999999999").status_code == 404
    assert worker.get(f"/tasks/{seeded['outside']}").status_code == 403
    # The community workstation and the district see it, or not, by their own scopes.
    assert client_for("community_staff").get(f"/api/tasks/{seeded['outside']}").status_code == 403
    assert client_for("district_operator").get(f"/api/tasks/{seeded['outside']}").status_code == 200


def test_roles_without_tasks_get_403(client_for: Callable[[str], TestClient], seeded: dict[str, Any]) -> None:
    for role in ("department_handler", "contractor"):
        assert client_for(role).get("/api/tasks").status_code == 403
        assert client_for(role).get(f"/api/tasks/{seeded['mine'][0]}").status_code == 403
    # Street operators read tasks but do not answer them.
    street = client_for("street_operator")
    assert street.get(f"/api/tasks/{seeded['mine'][0]}").status_code == 200
    assert (
        street.post(f"/api/tasks/{seeded['mine'][0]}/answer", json={"answer": "confirmed"}).status_code == 403
    )
    assert street.post(f"/tasks/{seeded['mine'][0]}", data={"answer": "confirmed"}).status_code == 403
    assert 'id="task-form"' not in street.get(f"/tasks/{seeded['mine'][0]}").text


def test_the_task_shows_the_record_masked_with_lineage_and_what_may_be_corrected(
    client_for: Callable[[str], TestClient], seeded: dict[str, Any]
) -> None:
    body = client_for("grid_worker").get(f"/api/tasks/{seeded['mine'][0]}").json()
    assert body["target"]["exists"] and body["record_url"] == f"/registry/people/{body['target_id']}"
    values = {v["field"]: v for v in body["target"]["values"]}
    assert "*" in values["name"]["value"] and re.fullmatch(
        r"\w{4}\*{10}\w{4}|\**", values["id_number"]["value"]
    )
    assert re.fullmatch(r"实有人口自主申报与门禁采集 第\d+批 第\d+行", values["address"]["lineage"])
    names = {f["name"] for f in body["correctable"]}
    assert {"phone", "address", "household_type", "id_number"} <= names


def test_answering_through_the_api_writes_back_and_refuses_twice(
    engine: Engine, client_for: Callable[[str], TestClient], seeded: dict[str, Any]
) -> None:
    worker = client_for("grid_worker")
    task_id = seeded["mine"][1]
    bad = worker.post(
        f"/api/tasks/{task_id}/answer", json={"answer": "corrected", "corrected": {"phone": "110"}}
    )
    assert bad.status_code == 422 and "联系电话" in bad.json()["error"]["message"]
    assert worker.get(f"/api/tasks/{task_id}").json()["state"] == "open"
    good = worker.post(
        f"/api/tasks/{task_id}/answer",
        json={"answer": "corrected", "corrected": {"phone": "13800138000"}, "note": "电话已更新"},
    )
    assert good.status_code == 200, good.text
    body = good.json()
    assert (body["state"], body["answer"], body["corrected"]) == (
        "done",
        "corrected",
        {"phone": "138****8000"},
    )
    phone = next(v for v in body["target"]["values"] if v["field"] == "phone")
    assert phone["value"] == "138****8000" and phone["lineage"] == f"网格员核查 任务 #{task_id}"
    with session_factory(engine)() as session:
        person = session.get_one(Person, body["target_id"])
        assert person.lineage["phone_enc"] == f"t{task_id}"
        assert crypto.decrypt(person.phone_enc or "", "reg_person.phone") == "13800138000"
    again = worker.post(f"/api/tasks/{task_id}/answer", json={"answer": "confirmed"})
    assert again.status_code == 409


def test_operators_filter_by_rule_state_and_overdue(
    client_for: Callable[[str], TestClient], seeded: dict[str, Any]
) -> None:
    staff = client_for("community_staff")
    done = staff.get("/api/tasks", params={"rule": RULE, "state": "done"}).json()
    assert {t["id"] for t in done["items"]} <= set(seeded["mine"])
    opened = staff.get("/api/tasks", params={"rule": RULE, "state": "open"}).json()
    assert {t["id"] for t in opened["items"]}.isdisjoint({t["id"] for t in done["items"]})
    assert staff.get("/api/tasks", params={"rule": RULE, "overdue": True}).json()["total"] == 0
    assert staff.get("/api/tasks", params={"state": "bogus"}).status_code == 422


def test_rules_are_listed_and_switched_by_configurers_only(client_for: Callable[[str], TestClient]) -> None:
    listed = client_for("grid_worker").get("/api/tasks/rules").json()
    assert {r["rule"] for r in listed} >= {"new_occupant", "over_occupancy", "invalid_id", "merge_in_doubt"}
    assert (
        client_for("grid_worker").put("/api/tasks/rules/invalid_id", json={"enabled": False}).status_code
        == 403
    )
    admin = client_for("admin")
    assert admin.put("/api/tasks/rules/no_such_rule", json={"enabled": False}).status_code == 404
    off = admin.put("/api/tasks/rules/merge_in_doubt", json={"enabled": False})
    assert off.status_code == 200 and off.json()["enabled"] is False and off.json()["default"] is True
    on = admin.put("/api/tasks/rules/merge_in_doubt", json={"enabled": True})
    assert on.json()["enabled"] is True


# ---- pages ----------------------------------------------------------------------------------------------


def test_the_phone_list_shows_her_tasks(
    client_for: Callable[[str], TestClient], seeded: dict[str, Any]
) -> None:
    page = client_for("grid_worker").get("/tasks", params={"rule": RULE, "state": "all"})
    assert page.status_code == 200
    shown = {int(i) for i in re.findall(r'data-task-id="(\d+)"', page.text)}
    assert shown == set(seeded["mine"])
    assert 'name="viewport"' in page.text and 'href="/tasks"' in page.text  # the nav line
    assert client_for("contractor").get("/tasks").status_code == 403


def test_the_form_answers_and_shows_the_result_with_the_record_link(
    engine: Engine, client_for: Callable[[str], TestClient], seeded: dict[str, Any]
) -> None:
    worker = client_for("grid_worker")
    task_id = seeded["mine"][2]
    form = worker.get(f"/tasks/{task_id}")
    assert form.status_code == 200
    assert 'accept="image/*" capture' in form.text and 'value="corrected"' in form.text
    refused = worker.post(f"/tasks/{task_id}", data={"answer": "corrected", "c_birth_date": "1990-13-01"})
    assert refused.status_code == 422 and "出生日期" in refused.text and 'value="1990-13-01"' in refused.text
    done = worker.post(
        f"/tasks/{task_id}",
        data={"answer": "corrected", "c_household_type": "registered", "note": "核实户口本"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].endswith(f"/tasks/{task_id}?answered=1")
    result = worker.get(done.headers["location"])
    assert 'id="task-result"' in result.text and 'data-answer="corrected"' in result.text
    person_id = seeded["people"][2]
    assert f'href="/registry/people/{person_id}"' in result.text
    assert f"网格员核查 任务 #{task_id}" in result.text  # the lineage shown on the record's values
    with session_factory(engine)() as session:
        task = session.get_one(Task, task_id)
        person = session.get_one(Person, person_id)
        assert (task.answer, task.note) == ("corrected", "核实户口本")
        assert person.household_type == "registered" and person.lineage["household_type"] == f"t{task_id}"
    assert worker.post(f"/tasks/{task_id}", data={"answer": "confirmed"}).status_code == 422  # answered


def test_a_browser_session_needs_the_forms_csrf_token(
    anonymous_client: TestClient, demo_accounts: dict[str, DemoAccount], seeded: dict[str, Any]
) -> None:
    account = demo_accounts["grid_worker"]
    with TestClient(anonymous_client.app, base_url="https://testserver") as browser:
        form = browser.get("/login").text
        login_token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert login_token
        login = browser.post(
            "/login",
            data={
                "username": account.username,
                "password": account.password,
                "csrf_token": login_token.group(1),
            },
            follow_redirects=False,
        )
        assert login.status_code in (302, 303), login.text[:200]
        task_id = seeded["mine"][3]
        refused = browser.post(f"/tasks/{task_id}", data={"answer": "confirmed", "csrf_token": "wrong"})
        assert refused.status_code == 422 and "页面已过期" in refused.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(f"/tasks/{task_id}").text)
        assert token
        done = browser.post(
            f"/tasks/{task_id}",
            data={"answer": "confirmed", "csrf_token": token.group(1)},
            follow_redirects=False,
        )
        assert done.status_code == 303


def test_configurers_run_the_rules_after_an_import(client_for: Callable[[str], TestClient]) -> None:
    assert client_for("grid_worker").post("/api/tasks/rules/run", json={}).status_code == 403
    admin = client_for("admin")
    ran = admin.post("/api/tasks/rules/run", json={"rules": ["invalid_id"]})
    assert ran.status_code == 200 and set(ran.json()) == {"invalid_id"}
    assert admin.post("/api/tasks/rules/run", json={"rules": ["invalid_id"]}).json() == {"invalid_id": 0}
    assert admin.post("/api/tasks/rules/run", json={"rules": ["no_such_rule"]}).status_code == 422
