"""Deeply nested JSON is refused with a clear 4xx before it is parsed (``'[' * 100000`` was a 500, on
anonymous routes too)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from gridgov.core import jsonbody

BOMB = b"[" * 100_000
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ('"[[[["', 0),
        ("[]", 1),
        ('{"a": [1, {"b": "]]]}"}]}', 3),
        ('["\\"[", [[]], []]', 3),
        ("[" * 5 + "]" * 5, 5),
        ("[" * 100_000, 100_000),
    ],
)
def test_json_depth_counts_brackets_outside_strings(text: str, depth: int) -> None:
    assert jsonbody.json_depth(text) == depth
    assert jsonbody.json_depth(text.encode()) == depth


def test_loads_refuses_deep_nesting_before_parsing_and_parses_the_rest() -> None:
    with pytest.raises(jsonbody.TooDeeplyNested, match="100000 levels"):
        jsonbody.loads(BOMB)
    with pytest.raises(ValueError):  # callers that catch undecodable JSON catch this too
        jsonbody.loads("[" * 33 + "]" * 33)
    deepest = "[" * 32 + "]" * 32
    assert jsonbody.loads(deepest) == json.loads(deepest)
    assert jsonbody.loads('{"名": ["[x"]}') == {"名": ["[x"]}


def test_anonymous_routes_answer_deep_json_with_4xx(anonymous_client: TestClient) -> None:
    token = anonymous_client.post("/api/auth/token", content=BOMB, headers=JSON)
    assert token.status_code == 422 and token.json()["error"]["code"] == "invalid_input"
    open311 = anonymous_client.post("/open311/v2/requests.json", content=BOMB, headers=JSON)
    assert open311.status_code == 400


def test_routes_with_a_login_answer_deep_json_with_4xx(client: TestClient) -> None:
    alert = client.post("/api/events/alerts", content=BOMB, headers=JSON)
    assert alert.status_code == 422 and "nested" in alert.json()["error"]["message"]
    typed = client.post("/api/me/tokens", content=BOMB, headers=JSON)  # parsed by FastAPI itself
    assert typed.status_code in (400, 422)


def test_a_deeply_nested_feed_push_is_refused_or_quarantined_not_a_server_error(
    client: TestClient, anonymous_client: TestClient
) -> None:
    from test_ingest_api import push
    from test_ingest_api import pusher as make_pusher

    name, token = make_pusher.__wrapped__(client)  # type: ignore[attr-defined]
    array = push(anonymous_client, name, token, BOMB, "application/json")
    assert array.status_code == 422 and "nested" in array.json()["error"]["message"]
    lines = push(anonymous_client, name, token, b'{"a": 1}\n' + BOMB + b"\n", "application/x-ndjson")
    assert lines.status_code == 200, lines.text
    assert lines.json()["quarantined"] == 2
