"""Walk every registered API route, as every role, and knock on objects outside the caller's scope.

Each route declares how it is scoped in ``openapi_extra["x-scope"]``; this test knows how to probe each
kind. A route without a declaration, or with a kind this test cannot probe, fails the suite — so a route
added later without scoping cannot slip in. Answers to out-of-scope probes must be 403 or 404; lists must
hold nothing outside the scope.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from gridgov.accounts.models import UserAccount
from gridgov.accounts.permissions import Role
from gridgov.address.models import StdAddress
from gridgov.areas.models import Community, Grid, Street
from gridgov.areas.scope import WHOLE_DISTRICT, AreaScope
from gridgov.core.db import session_factory
from gridgov.demo.accounts import DemoAccount
from gridgov.events.models import Event

# Routes open without an account: listed here by hand, so opening one is a visible decision.
PUBLIC_ROUTES = {("POST", "/api/auth/token"), ("GET", "/health")}
# District-wide reference figures that carry no object data: also listed by hand.
REFERENCE_ROUTES = {("GET", "/api/areas/stats")}
NANSHAN_POINT = (113.9248, 22.530853)  # inside 南山社区 (南山街道): outside the demo street 粤海街道
UNKNOWN_TICKET = "NS000000ZZZZZZ"
FUTIAN = "440304000000"  # a real district code that is not ours: outside every scope here
HONG_KONG = (114.1694, 22.3193)
ROLES = [r.value for r in Role]


def registered_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every route the app serves, with its full path, looking inside included routers."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from registered_routes(inner.routes, prefix + (getattr(context, "prefix", "") or ""))
        elif isinstance(route, APIRoute):
            yield prefix + route.path, route


def api_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """(method, route) for every API route; ``route.path`` is used, so no prefixes are in play (asserted)."""
    for path, route in registered_routes(app.routes):
        if path.startswith("/api/") or path == "/health":
            assert path == route.path, "router prefixes: teach fill_path about them"
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                yield method, route


def scope_of(account: DemoAccount) -> AreaScope:
    return AreaScope.of(str(account.scope["level"]), [str(c) for c in account.scope["codes"]])  # type: ignore[union-attr]


class World:
    """Codes and ids to knock with, read from the test database."""

    def __init__(self, engine: Engine) -> None:
        with session_factory(engine)() as session:
            self.streets = list(session.scalars(select(Street.code).order_by(Street.code)))
            self.communities = list(session.scalars(select(Community.code).order_by(Community.code)))
            self.grids = list(session.scalars(select(Grid.code).order_by(Grid.code)))
            self.grid_points = {
                g.code: (g.centroid_lon, g.centroid_lat) for g in session.scalars(select(Grid))
            }
            self.users = {u.username: u.id for u in session.scalars(select(UserAccount))}
            self.address_texts = {a.code: a.text for a in session.scalars(select(StdAddress))}
            self.addresses = [
                (a.code, a.grid_code or a.community_code)
                for a in session.scalars(select(StdAddress).order_by(StdAddress.code))
            ]
            self.events = [
                (e.ticket, e.grid_code or "", e.version)
                for e in session.scalars(select(Event).order_by(Event.id))
            ]
            self.user_scopes = {
                u.id: AreaScope.of(u.scope_level, u.scope_codes.split(","))
                for u in session.scalars(select(UserAccount))
            }

    def outside_codes(self, scope: AreaScope) -> list[str]:
        """A street, a community and a grid outside the scope (or a foreign district for district scopes)."""
        picks = [FUTIAN]
        for codes in (self.streets, self.communities, self.grids):
            outside = next((c for c in codes if not scope.overlaps(c)), None)
            if outside:
                picks.append(outside)
        return picks

    def inside_code(self, scope: AreaScope) -> str:
        return sorted(scope.codes)[0]

    def outside_point(self, scope: AreaScope) -> tuple[float, float]:
        grid = next((c for c in self.grids if not scope.covers(c)), None)
        return self.grid_points[grid] if grid else HONG_KONG

    def address_codes(self, scope: AreaScope) -> tuple[list[str], str | None]:
        """Addresses outside the scope (plus an unknown code), and one inside it (if the scope has any)."""
        outside = [code for code, area in self.addresses if area and not scope.covers(area)][:3]
        inside = next((code for code, area in self.addresses if area and scope.covers(area)), None)
        return [*outside, "99999999999999999999"], inside

    def event_tickets(self, scope: AreaScope) -> tuple[list[tuple[str, int]], str | None]:
        """(ticket, version) of events outside the scope (plus an unknown ticket), and one inside it."""
        outside = [(t, v) for t, grid, v in self.events if not scope.covers(grid)][:3]
        inside = next((t for t, grid, _v in self.events if scope.covers(grid)), None)
        return [*outside, (UNKNOWN_TICKET, 1)], inside

    def outside_user(self, scope: AreaScope, me: int) -> int:
        others = [
            uid
            for uid, s in self.user_scopes.items()
            if uid != me and not all(scope.covers(c) for c in s.codes)
        ]
        return others[0] if others else 999_999


def as_event_list(body: Any) -> list[dict[str, Any]]:
    """Events as a list of dicts, from a list route or from a GeoJSON FeatureCollection (the map's)."""
    if isinstance(body, dict) and body.get("type") == "FeatureCollection":
        return [feature["properties"] for feature in body["features"]]
    assert isinstance(body, list)
    return body


def point_inside(session: Any, scope: AreaScope) -> tuple[float, float]:
    """A standard address's point that locates to a grid inside ``scope``."""
    from gridgov.areas.service import area_index

    index = area_index(session)
    for lon, lat, grid in session.execute(
        select(StdAddress.lon, StdAddress.lat, StdAddress.grid_code)
        .where(StdAddress.lon.is_not(None))
        .order_by(StdAddress.code)
    ):
        if grid and scope.covers(grid):
            located = index.locate(lon, lat)
            if located.grid is not None and scope.covers(located.grid.code):
                return float(lon), float(lat)
    raise AssertionError(f"no address point inside {scope}")


def seed_events(engine: Engine, grid_worker: DemoAccount) -> None:
    """Event types, org units and two events in two streets: one reported in the demo grid worker's grids
    (粤海街道), one in 南山街道 accepted and whistled (D-CG summoned), so out-of-scope probes are real."""
    from gridgov.events import service
    from gridgov.events.service import Actor, NewEvent

    desk = Actor(name="route-walk desk", scope=WHOLE_DISTRICT)
    with session_factory(engine)() as session:
        service.seed_org_units(session)
        service.seed_categories(session)
        lon, lat = point_inside(session, scope_of(grid_worker))
        for key, point in (("walk-yuehai", (lon, lat)), ("walk-nanshan", NANSHAN_POINT)):
            new = NewEvent(
                subtype_code="0104", title="探针事件", lon=point[0], lat=point[1], idempotency_key=key
            )
            event, created = service.submit(session, new)
            if created and key == "walk-nanshan":
                service.act(session, event, "accept", actor=desk)
                service.blow_whistle(session, event, actor=desk, ground="no_owner", departments=["D-CG"])
        session.commit()


@pytest.fixture(scope="module")
def world(engine: Engine, demo_accounts: dict[str, DemoAccount]) -> World:
    seed_events(engine, demo_accounts["grid_worker"])
    return World(engine)


def all_codes(value: Any) -> Iterator[str]:
    """Every area code mentioned in a JSON value (keys named code / *_code, and geometry properties)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if (
                (key == "code" or key.endswith("_code"))
                and isinstance(item, str)
                and re.fullmatch(r"\d{12}|\d{15}", item)
            ):
                yield item
            else:
                yield from all_codes(item)
    elif isinstance(value, list):
        for item in value:
            yield from all_codes(item)


def fill_path(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "0"), path)


def _level_of(code: str) -> str:
    if len(code) == 15:
        return "grids"
    if code.endswith("000000"):
        return "district"
    return "street" if code.endswith("000") else "community"


# Bodies for routes that take one, to knock with objects outside the scope. A new POST route needs a row here.
def body_for(method: str, path: str, outside_code: str) -> dict[str, Any] | None:
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/api/users"): {
            "username": "probe.user",
            "password": "probe-password-123",
            "role": "grid_worker",
            "scope_level": _level_of(outside_code),
            "scope_codes": [outside_code],
        },
        ("POST", "/api/users/{user_id}/disable"): {},
        ("POST", "/api/users/{user_id}/reveal"): {"field": "phone", "reason": "route-walk probe"},
        ("POST", "/api/me/tokens"): {"name": "probe"},
        ("POST", "/api/addresses"): {
            "level": "building",
            "text": "南山区探针路1号",
            {"grids": "grid_code", "community": "community_code"}.get(
                _level_of(outside_code), "street_code"
            ): outside_code,
        },
        ("PATCH", "/api/addresses/{code}"): {"reason": "route-walk probe", "text": "南山区探针路2号"},
        ("POST", "/api/addresses/{code}/retire"): {"reason": "route-walk probe"},
        ("POST", "/api/addresses/{code}/aliases"): {"alias": "探针大厦"},
    }
    return bodies.get((method, path))


# Bodies for event routes: on an event outside the scope each would do something if the scope were not
# checked (the walk's 南山 event is accepted and has summoned D-CG); on the event inside it, the stale
# ``version`` or the department that was not summoned there makes each harmless (409/404, or 403).
# ``other`` is a second event a body names (a merge's target): the one inside the scope when the path
# names one outside it, and one outside it (or an unknown ticket) when the path names the one inside.
def event_body_for(path: str, version: int, other: str = UNKNOWN_TICKET) -> dict[str, Any]:
    bodies: dict[str, dict[str, Any]] = {
        "/api/events/{ticket}/merge": {"into": other, "version": version},
        "/api/events/{ticket}/actions": {
            "action": "supervise",
            "version": version,
            "reason": "route-walk probe",
        },
        "/api/events/{ticket}/whistle": {"ground": "no_owner", "departments": ["D-ZJ"], "version": version},
        "/api/events/{ticket}/summons": {"department": "D-CG", "action": "whistle_sign"},
    }
    assert path in bodies, f"add an event probe body for {path}"
    return bodies[path]


# Bodies that reach an address inside the scope but are refused by a business rule (422), so the walk
# proves a holder of the permission is let in without changing the shared test library.
def harmless_body_for(method: str, path: str, code: str, text: str) -> dict[str, Any] | None:
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("PATCH", "/api/addresses/{code}"): {"reason": "route-walk probe", "text": text},  # nothing changes
        ("POST", "/api/addresses/{code}/retire"): {"reason": "route-walk probe", "replaced_by": code},
        ("POST", "/api/addresses/{code}/aliases"): {"alias": text},  # its own text
    }
    return bodies.get((method, path))


@pytest.mark.parametrize("role", ROLES)
def test_every_route_refuses_objects_outside_the_callers_scope(
    role: str,
    app: FastAPI,
    client_for: Callable[[str], TestClient],
    demo_accounts: dict[str, DemoAccount],
    world: World,
) -> None:
    client = client_for(role)
    account = demo_accounts[role]
    scope = scope_of(account)
    me = world.users[account.username]
    probed = 0
    for method, route in api_routes(app):
        kind = (route.openapi_extra or {}).get("x-scope")
        key = (method, route.path)
        if key in PUBLIC_ROUTES:
            continue
        assert kind is not None, f"{method} {route.path} declares no x-scope: scope it and declare how"
        if kind == "reference":
            assert key in REFERENCE_ROUTES, f"{method} {route.path} claims to be reference data"
            continue
        if kind == "area:path":
            for code in world.outside_codes(scope):
                response = client.request(method, fill_path(route.path, {"code": code}))
                assert response.status_code in (403, 404), f"{role} {method} {route.path} with {code}"
            inside = client.request(method, fill_path(route.path, {"code": world.inside_code(scope)}))
            assert inside.status_code == 200, f"{role} cannot read its own area via {route.path}"
        elif kind == "address:path":
            outside, inside_code = world.address_codes(scope)
            for code in outside:
                response = client.request(method, fill_path(route.path, {"code": code}))
                assert response.status_code in (403, 404), f"{role} {method} {route.path} with {code}"
            if inside_code is not None:
                assert client.request(method, fill_path(route.path, {"code": inside_code})).status_code == 200
        elif kind == "address:write":
            # Changes an address named in the path: refused outside the scope (or without the permission).
            outside, inside_code = world.address_codes(scope)
            body = body_for(method, route.path, "")
            for code in outside:
                response = client.request(method, fill_path(route.path, {"code": code}), json=body)
                assert response.status_code in (403, 404), f"{role} {method} {route.path} with {code}"
            holds = route_permission(route) in {p.value for p in _permissions(role)}
            if inside_code is not None:
                harmless = harmless_body_for(
                    method, route.path, inside_code, world.address_texts[inside_code]
                )
                response = client.request(method, fill_path(route.path, {"code": inside_code}), json=harmless)
                expected = (404, 422) if holds else (403,)
                assert response.status_code in expected, (
                    f"{role} {method} {route.path}: {response.text[:200]}"
                )
        elif kind == "address:list":
            response = client.request(method, route.path, params={"q": "南山区", "limit": 50})
            assert response.status_code == 200, f"{role} {method} {route.path}: {response.text[:200]}"
            found = response.json()
            if world.address_codes(scope)[1] is not None:
                assert found, f"{role} found no address in its own scope"
            leaked = [a["code"] for a in found if not scope.covers(a["grid_code"] or a["community_code"])]
            assert not leaked, f"{role} {method} {route.path} lists addresses outside its scope: {leaked[:3]}"
        elif kind == "address:match":
            outside, inside_code = world.address_codes(scope)
            # District scopes have no address outside them: knock with the first few addresses anyway.
            texts = [world.address_texts[c] for c in outside if c in world.address_texts] or [
                text for _, text in zip(range(3), world.address_texts.values(), strict=False)
            ]
            response = client.request(method, route.path, json={"texts": texts})
            assert response.status_code == 200, f"{role} {method} {route.path}: {response.text[:200]}"
            leaked = [
                r["std_code"]
                for r in response.json()
                if r["std_code"] and not scope.covers(r["grid_code"] or r["community_code"])
            ]
            assert not leaked, (
                f"{role} {method} {route.path} matched addresses outside its scope: {leaked[:3]}"
            )
        elif kind == "area:list":
            params = {"q": "社区", "limit": 100} if "{" not in route.path and "search" in route.path else {}
            response = client.request(method, route.path, params=params)
            assert response.status_code == 200, f"{role} {method} {route.path}: {response.text[:200]}"
            leaked = [c for c in all_codes(response.json()) if not scope.overlaps(c)]
            assert not leaked, f"{role} {method} {route.path} lists {leaked[:3]} outside its scope"
        elif kind == "area:point":
            lon, lat = world.outside_point(scope)
            response = client.request(method, route.path, params={"lon": lon, "lat": lat})
            if response.status_code == 200:
                assert response.json()["grid"] is None, f"{role} located a point outside its scope"
            else:
                assert response.status_code in (403, 404)
        elif kind == "area:body":
            for code in world.outside_codes(scope):
                body = body_for(method, route.path, code)
                assert body is not None, f"add a probe body for {method} {route.path}"
                response = client.request(method, route.path, json=body)
                assert response.status_code in (403, 404), f"{role} {method} {route.path} with {code}"
        elif kind == "event:list":
            holds = route_permission(route) in {p.value for p in _permissions(role)}
            response = client.request(method, route.path, params={"limit": 500})
            if not holds:
                assert response.status_code == 403, f"{role} {method} {route.path}: {response.status_code}"
            else:
                assert response.status_code == 200, f"{role} {method} {route.path}: {response.text[:200]}"
                found = as_event_list(response.json())
                if world.event_tickets(scope)[1] is not None:
                    assert found, f"{role} found no event in its own scope"
                leaked = [e["ticket"] for e in found if not scope.covers(e["grid_code"])]
                assert not leaked, f"{role} {method} {route.path} lists events outside its scope: {leaked}"
                # Asking for another street by filter does not widen the scope.
                for code in world.outside_codes(scope)[1:2]:
                    response = client.request(method, route.path, params={"street_code": code})
                    assert response.status_code == 200, f"{role} street {code}"
                    assert as_event_list(response.json()) == [], f"{role} street {code}"
        elif kind == "event:path":
            holds = route_permission(route) in {p.value for p in _permissions(role)}
            outside, inside_ticket = world.event_tickets(scope)
            for ticket, _version in outside:
                response = client.request(method, fill_path(route.path, {"ticket": ticket}))
                assert response.status_code in (403, 404), f"{role} {method} {route.path} with {ticket}"
            if inside_ticket is not None:
                response = client.request(method, fill_path(route.path, {"ticket": inside_ticket}))
                assert response.status_code == (200 if holds else 403), f"{role} {method} {route.path}"
        elif kind == "event:write":
            holds = route_permission(route) in {p.value for p in _permissions(role)}
            outside, inside_ticket = world.event_tickets(scope)
            for ticket, version in outside:
                body = event_body_for(route.path, version, inside_ticket or UNKNOWN_TICKET)
                response = client.request(method, fill_path(route.path, {"ticket": ticket}), json=body)
                assert response.status_code in (403, 404), (
                    f"{role} {method} {route.path} with {ticket}: {response.text[:200]}"
                )
            if inside_ticket is not None:
                body = event_body_for(route.path, 999_999, outside[0][0])
                response = client.request(method, fill_path(route.path, {"ticket": inside_ticket}), json=body)
                expected = (403, 404, 409) if holds else (403,)
                assert response.status_code in expected, (
                    f"{role} {method} {route.path}: {response.text[:200]}"
                )
        elif kind == "event:body":
            holds = route_permission(route) in {p.value for p in _permissions(role)}
            lon, lat = world.outside_point(scope)
            body = {"subtype_code": "0101", "title": "探针事件", "lon": lon, "lat": lat}
            response = client.request(method, route.path, json=body)
            # A district scope has no point of the district outside it: Hong Kong is refused (422) instead.
            expected = ((403, 404) if (lon, lat) != HONG_KONG else (422,)) if holds else (403,)
            assert response.status_code in expected, f"{role} {method} {route.path}: {response.text[:200]}"
        elif kind == "user:path":
            other = world.outside_user(scope, me)
            body = body_for(method, route.path, "") if method != "GET" else None
            response = client.request(method, fill_path(route.path, {"user_id": str(other)}), json=body)
            assert response.status_code in (403, 404), f"{role} {method} {route.path} reached user {other}"
        elif kind == "user:list":
            response = client.request(method, route.path, params={"reason": "route-walk probe"})
            if response.status_code in (403, 404):
                continue
            assert response.status_code == 200, f"{role} {method} {route.path}: {response.text[:200]}"
            if "csv" in response.headers["content-type"]:
                rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
                codes = [c for r in rows for c in r["scope"].split(",")]
                names = [r["username"] for r in rows]
            else:
                codes = [c for u in response.json() for c in u["scope"]["codes"]]
                names = [u["username"] for u in response.json()]
            leaked = [c for c in codes if not scope.covers(c)]
            assert not leaked or names == [account.username], (
                f"{role} {route.path} lists accounts outside scope"
            )
        elif kind == "self":
            path_values = {"token_id": "1"} if "{token_id}" in route.path else {}
            if path_values:
                # Token 1 is the administrator's (issued first); anyone else must get 404.
                if role != "admin":
                    response = client.request(method, fill_path(route.path, path_values))
                    assert response.status_code in (403, 404), f"{role} {method} {route.path}"
            elif method == "GET":
                response = client.get(route.path)
                assert response.status_code == 200
                payload = response.json()
                if isinstance(payload, dict) and "username" in payload:
                    assert payload["username"] == account.username
        elif kind.startswith("permission:"):
            permission = kind.split(":", 1)[1]
            response = client.request(method, route.path)
            holds = permission in {p.value for p in _permissions(role)}
            assert (response.status_code == 403) != holds, (
                f"{role} {method} {route.path}: {response.status_code}"
            )
        else:
            pytest.fail(f"{method} {route.path}: unknown x-scope kind '{kind}' — teach this test to probe it")
        probed += 1
    assert probed >= 10


def route_permission(route: APIRoute) -> str:
    """The permission a route's ``require(...)`` dependency asks for (from its generated name)."""
    for dependency in route.dependant.dependencies:
        name = getattr(dependency.call, "__name__", "")
        if name.startswith("require_"):
            return name.removeprefix("require_").replace("_", ".", 1)
    raise AssertionError(f"{route.path} has no require(...) dependency")


def _permissions(role: str) -> frozenset[Any]:
    from gridgov.accounts.permissions import permissions_of

    return permissions_of(Role(role))


def test_anonymous_callers_get_401_on_every_non_public_route(
    app: FastAPI, anonymous_client: TestClient
) -> None:
    for method, route in api_routes(app):
        if (method, route.path) in PUBLIC_ROUTES:
            continue
        response = anonymous_client.request(method, fill_path(route.path, {"code": "440305000000"}))
        assert response.status_code == 401, f"{method} {route.path} answered {response.status_code} to nobody"
        assert response.json()["error"]["code"] == "unauthenticated"


def test_public_and_reference_routes_exist(app: FastAPI) -> None:
    routes = {(m, r.path) for m, r in api_routes(app)}
    assert routes >= PUBLIC_ROUTES and routes >= REFERENCE_ROUTES
    assert json.dumps(sorted(PUBLIC_ROUTES))  # the allowlist stays small and explicit
    assert len(PUBLIC_ROUTES) <= 3
