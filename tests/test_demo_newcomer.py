"""What a newcomer meets first: the demo accounts printed whole, a README that describes what exists."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from gridgov.core.db import session_factory

REPO = Path(__file__).resolve().parents[1]

# Written by hand in the shape `gridgov demo load` keeps them (var/demo-accounts.json); the passwords are as
# long as the ones it makes (15 characters) and longer, with the characters it uses (- and _ included).
_ACCOUNTS = [
    {
        "username": "demo.admin",
        "password": "LrX4JG7i_6agQ2-57",
        "role": "admin",
        "scope": {"level": "district", "codes": ["440305000000"]},
        "display_name": "系统管理员",
        "org_unit": "南山区政务服务数据管理局",
    },
    {
        "username": "demo.community",
        "password": "ypAHxUnhDqeS-3_x-Zq81",
        "role": "community_staff",
        "scope": {"level": "community", "codes": ["440305007003"]},
        "display_name": "科技园社区工作站",
        "org_unit": "科技园社区工作站",
    },
    {
        "username": "demo.grid",
        "password": "-sNTBrsZR1hR-10",
        "role": "grid_worker",
        "scope": {"level": "grids", "codes": ["440305007003001", "440305007003002", "440305007003003"]},
        "display_name": "科技园社区网格员",
        "org_unit": "科技园社区工作站",
    },
    {
        "username": "demo.department",
        "password": "Z-OHuOqidO7S_long_password-99",
        "role": "department_handler",
        "scope": {"level": "district", "codes": ["440305000000"]},
        "display_name": "区城管局执法队",
        "org_unit": "南山区城市管理和综合执法局",
    },
]


@pytest.mark.parametrize("columns", ["80", "40"])
def test_demo_users_prints_every_password_whole_in_a_narrow_terminal(tmp_path: Path, columns: str) -> None:
    var = tmp_path / "var"
    var.mkdir()
    (var / "demo-accounts.json").write_text(json.dumps(_ACCOUNTS, ensure_ascii=False), encoding="utf-8")
    env = {**os.environ, "GRIDGOV_VAR_DIR": str(var), "COLUMNS": columns, "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    done = subprocess.run(
        [sys.executable, "-m", "gridgov.cli.main", "demo", "users"],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # Every password and name appears as one unbroken word: nothing cut with "…", nothing folded.
    words = set(re.split(r"\s+", done.stdout))
    for account in _ACCOUNTS:
        assert account["password"] in words, done.stdout
        assert account["username"] in done.stdout, done.stdout
    assert "…" not in done.stdout


# What a user's README must not say: it describes what exists, not the project's issue tracker or its plans.
_README_FORBIDDEN = (
    re.compile(r"\bissues?\s*#?\s*\d+", re.IGNORECASE),  # "issue 6", "issue #6", "Issues 6"
    re.compile(r"(?<![\w&/])#\d+\b"),  # "#6" (not a URL fragment, an HTML entity or a colour)
    re.compile(r"\bin progress\b", re.IGNORECASE),
    re.compile(r"\b(?:next|later|coming|future|open) issues?\b", re.IGNORECASE),
    re.compile(r"\bstill to do\b", re.IGNORECASE),
)


def test_readme_names_no_issues_and_nothing_in_progress() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    found = [m.group() for pattern in _README_FORBIDDEN for m in pattern.finditer(text)]
    assert found == []


@pytest.mark.parametrize(
    "sentence",
    [
        "The address library, events and the registry are the next open issues.",
        "## Block data (issue 6, in progress)",
        "Still to do: see #12.",
        "the public will report without one (a later issue)",
    ],
)
def test_the_readme_patterns_catch_what_they_are_for(sentence: str) -> None:
    assert any(pattern.search(sentence) for pattern in _README_FORBIDDEN)


def _tasks_in(grids: dict[str, int]) -> list[Any]:
    """``count`` open tasks in each grid (street and community from its code), each about its own person."""
    from gridgov.tasks.service import NewTask

    made = []
    for grid, count in grids.items():
        for _ in range(count):
            made.append(
                NewTask(
                    rule="address_review",
                    target_kind="person",
                    target_id=len(made) + 1,
                    title="地址待核",
                    what_to_check="核对住址",
                    evidence={},
                    street_code=grid[:9] + "000",
                    community_code=grid[:12],
                    grid_code=grid,
                )
            )
    return made


def test_the_demo_community_and_grid_accounts_go_where_the_tasks_are(
    backend: str,
    empty_engine_factory: Callable[[str], Engine],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from gridgov.accounts import service
    from gridgov.areas.service import load_nanshan_areas
    from gridgov.demo import accounts as demo_accounts
    from gridgov.tasks.service import create_tasks, list_tasks

    monkeypatch.setattr(demo_accounts, "accounts_file", lambda: tmp_path / "demo-accounts.json")
    engine = empty_engine_factory(backend)
    with session_factory(engine)() as session:
        load_nanshan_areas(session)
        demo_accounts.create_demo_accounts(session)
        assert demo_accounts.where_the_work_is(session) is None  # no task anywhere: the accounts stay
        # No task in 科技园社区 (440305007003); 龙城社区 (…008) has the most of 粤海街道 (7; 深圳大学社区 2);
        # 南光社区 of 南山街道 has more, but lies outside the demo street.
        create_tasks(
            session,
            _tasks_in(
                {
                    "440305007008011": 1,
                    "440305007008019": 3,
                    "440305007008022": 2,
                    "440305007008023": 1,
                    "440305007004001": 2,
                    "440305002003001": 9,
                }
            ),
        )
        place = demo_accounts.where_the_work_is(session)
        assert place == demo_accounts.DemoPlace(
            "440305007008", "龙城社区", ("440305007008019", "440305007008022", "440305007008011")
        )
        demo_accounts.place_demo_accounts(session, place)
        kept = {a.username: a for a in demo_accounts.read_demo_accounts()}
        assert kept["demo.community"].scope == {"level": "community", "codes": ["440305007008"]}
        assert kept["demo.grid"].scope == {
            "level": "grids",
            "codes": ["440305007008011", "440305007008019", "440305007008022"],
        }
        assert kept["demo.grid"].display_name == "龙城社区网格员"
        assert kept["demo.street"].scope == {"level": "street", "codes": ["440305007000"]}
        for username, expected in (("demo.community", 7), ("demo.grid", 6)):
            user = service.get_user_by_name(session, username)
            assert len(list_tasks(session, service.scope_of(user))) == expected, username
            # The password kept in the file still logs in.
            assert service.authenticate(session, username, kept[username].password).id == user.id
        # Once work lies in 科技园社区 itself, it is the demo community's, however little.
        create_tasks(session, [replace(t, target_id=100) for t in _tasks_in({"440305007003002": 1})])
        again = demo_accounts.where_the_work_is(session)
        assert again is not None and again.community == "440305007003" and again.grids[0] == "440305007003002"
