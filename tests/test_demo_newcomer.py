"""What a newcomer meets first: the demo accounts printed whole, a README that describes what exists."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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
