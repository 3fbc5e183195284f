"""Schemathesis over every operation of our OpenAPI, as an administrator and anonymously: no input, valid or
not, may answer a server error (5xx; schemathesis's ``not_a_server_error``).

It runs on both backends, each time against a database of its own (the areas and the demo accounts, no
address library or events), so what it writes, disables or revokes stays out of the session's shared
databases. The budget: ``EXAMPLES`` cases per operation and generation mode (valid and invalid input), about
a minute of CPU per backend. Hypothesis runs derandomized: the same cases every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from sqlalchemy import Engine

from gridgov.core.db import make_engine, session_factory
from gridgov.core.migrate import upgrade

EXAMPLES = 8
#: For an anonymous caller an API route that needs a login answers 401 before it looks at the input.
EXAMPLES_REFUSED = 2


@dataclass
class Target:
    app: FastAPI
    engine: Engine
    admin_id: int
    admin_token: str
    admin_token_id: int


@pytest.fixture(scope="module")
def target(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    from gridgov.accounts import service as accounts
    from gridgov.areas.service import load_nanshan_areas
    from gridgov.demo.accounts import create_demo_accounts
    from gridgov.web.app import create_app

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('schemathesis') / 'gridgov.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_databases").create()
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as session:
        load_nanshan_areas(session)
        demo = {a.role: a for a in create_demo_accounts(session)}
        admin = accounts.get_user_by_name(session, demo["admin"].username)
        issued = accounts.issue_token(session, admin, name="schemathesis")
        session.commit()
        target = Target(create_app(engine), engine, admin.id, issued.token, issued.row.id)
    yield target
    engine.dispose()


def self_harm(target: Target, case: schemathesis.Case) -> bool:
    """A case that would lock the run's own administrator out (and turn the rest of the run into 401s)."""
    path = case.path_parameters or {}
    if case.operation.label == "DELETE /api/me/tokens/{token_id}":
        return path.get("token_id") == target.admin_token_id
    if case.operation.label == "POST /api/users/{user_id}/disable":
        return path.get("user_id") == target.admin_id
    return False


def nothing_to_make_invalid(raw: dict[str, Any]) -> bool:
    """No body and only free-text path parameters: any value is valid input (a 404 at most)."""
    parameters = raw.get("parameters", [])
    return "requestBody" not in raw and all(
        p.get("in") == "path"
        and set(p.get("schema", {})) <= {"type", "title"}
        and p["schema"]["type"] == "string"
        for p in parameters
    )


def run_every_operation(target: Target, *, admin: bool) -> tuple[int, list[str]]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", target.app)
    headers = {"Authorization": f"Bearer {target.admin_token}"} if admin else {}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        raw = operation.definition.raw
        refused = not admin and operation.path.startswith("/api/") and raw.get("x-scope") != "public"
        modes = [GenerationMode.POSITIVE]
        if not refused and not nothing_to_make_invalid(raw):
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            strategy = operation.as_strategy(generation_mode=mode).filter(
                lambda case: not self_harm(target, case)
            )

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES_REFUSED if refused else EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def call(case: schemathesis.Case) -> None:
                response = case.call(headers=headers)
                try:
                    case.validate_response(response, checks=[not_a_server_error], headers=headers)
                except AssertionError:
                    failures.append(f"{response.status_code}: {case.as_curl_command()}")

            try:
                call()
            except Unsatisfiable:
                # Parameters whose every value is valid: the positive cases covered the operation.
                assert mode is GenerationMode.NEGATIVE, operation.label
    return operations, failures


def test_no_operation_answers_a_server_error_to_an_administrator(target: Target) -> None:
    operations, failures = run_every_operation(target, admin=True)
    assert operations >= 79  # every operation of the schema was generated for
    assert failures == []
    with TestClient(target.app, base_url="https://testserver") as check:  # the run kept its credential
        me = check.get("/api/me", headers={"Authorization": f"Bearer {target.admin_token}"})
    assert me.status_code == 200


def test_no_operation_answers_a_server_error_to_an_anonymous_caller(target: Target) -> None:
    operations, failures = run_every_operation(target, admin=False)
    assert operations >= 79
    assert failures == []
