"""Walk every registered API route, as every role, and knock on objects outside the caller's scope.

Each route declares how it is scoped in ``openapi_extra["x-scope"]``; this test knows how to probe each
kind. A route without a declaration, or with a kind this test cannot probe, fails the suite — so a route
added later without scoping cannot slip in. Answers to out-of-scope probes must be 403 or 404; lists must
hold nothing outside the scope.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
from gridgov.areas.scope import WHOLE_DISTRICT
from gridgov.core.db import session_factory
from gridgov.demo.accounts import DemoAccount
from gridgov.events.models import Event, EventCategory, Whistle, WhistleSummons

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


# ---------------------------------------------------------------------------------------------------------
# The answer key, written by hand: which area codes each demo role may see. It does not ask the product
# (``AreaScope.covers/overlaps``): a scope widened by one level, or a rule that lets an object with no area
# through, shows up as a difference between the two.

DISTRICT = "440305000000"
YUEHAI = "440305007000"  # 粤海街道, the demo street
KEJIYUAN = "440305007003"  # 科技园社区, the demo community
# The three grids of 科技园 the demo grid worker is given (those with the most test-library addresses).
DEMO_GRIDS = frozenset({"440305007003007", "440305007003013", "440305007003014"})
OTHER_KEJIYUAN_GRID = "440305007003001"  # in the demo community, not the grid worker's
OTHER_YUEHAI_GRID = "440305007004001"  # 深圳大学社区: the demo street, another community
XILI_GRID = "440305009003001"  # 西丽街道: a third street


@dataclass(frozen=True)
class Sees:
    """What one role may see: every code that starts with ``digits`` (or exactly ``grids``); area lists
    may also name the areas ``above`` it (my street's district)."""

    digits: str = ""
    grids: frozenset[str] = frozenset()
    above: frozenset[str] = frozenset()

    def sees(self, code: str | None) -> bool:
        if not code:
            return False  # an object with no area code lies in nobody's scope
        if self.grids:
            return code in self.grids
        return code.startswith(self.digits)

    def touches(self, code: str) -> bool:
        return self.sees(code) or code in self.above


_WHOLE = Sees(digits="440305")
_STREET = Sees(digits="440305007", above=frozenset({DISTRICT}))
KEY: dict[str, Sees] = {
    "admin": _WHOLE,
    "district_operator": _WHOLE,
    "department_handler": _WHOLE,  # its events: also the department rule (``may_see_event``)
    "auditor": _WHOLE,
    "street_operator": _STREET,
    "contractor": _STREET,
    "community_staff": Sees(digits="440305007003", above=frozenset({DISTRICT, YUEHAI})),
    "grid_worker": Sees(grids=DEMO_GRIDS, above=frozenset({DISTRICT, YUEHAI, KEJIYUAN})),
}
# The grants the key is written for (the demo accounts' plan), checked against the accounts themselves.
GRANTS: dict[str, tuple[str, list[str]]] = {
    "admin": ("district", [DISTRICT]),
    "district_operator": ("district", [DISTRICT]),
    "department_handler": ("district", [DISTRICT]),
    "auditor": ("district", [DISTRICT]),
    "street_operator": ("street", [YUEHAI]),
    "contractor": ("street", [YUEHAI]),
    "community_staff": ("community", [KEJIYUAN]),
    "grid_worker": ("grids", sorted(DEMO_GRIDS)),
}
DEPARTMENT = "D-CG"  # the demo department handler's unit

_DISTRICT_ROLES = frozenset({"admin", "district_operator", "department_handler", "auditor"})
_STREET_ROLES = _DISTRICT_ROLES | {"street_operator", "contractor"}
_COMMUNITY_ROLES = _STREET_ROLES | {"community_staff"}
_ALL_ROLES = _COMMUNITY_ROLES | {"grid_worker"}


@dataclass(frozen=True)
class WalkEvent:
    key: str
    grid: str  # the grid it is reported in ("" for NANSHAN_POINT: located there)
    subtype: str
    seen_by: frozenset[str]  # by hand: the roles that may see it
    whistle: bool = False  # accepted and whistled, D-CG summoned
    unplaced: bool = False  # its area codes emptied afterwards (a place never located)


URBAN, LABOUR_DISPUTE = "0104", "0703"  # 垃圾满溢 (urban management, public) and 劳资纠纷 (social governance)
WALK_EVENTS = (
    WalkEvent("walk-mine", sorted(DEMO_GRIDS)[0], URBAN, _ALL_ROLES),
    WalkEvent("walk-kejiyuan", OTHER_KEJIYUAN_GRID, URBAN, _COMMUNITY_ROLES),
    WalkEvent("walk-yuehai", OTHER_YUEHAI_GRID, URBAN, _STREET_ROLES),
    WalkEvent("walk-nanshan", "", URBAN, _DISTRICT_ROLES, whistle=True),
    WalkEvent("walk-xili", XILI_GRID, URBAN, _DISTRICT_ROLES),
    # A labour dispute: not the department's (not dispatched or whistled to it), so it does not see it …
    WalkEvent("walk-dispute", sorted(DEMO_GRIDS)[0], LABOUR_DISPUTE, _ALL_ROLES - {"department_handler"}),
    # … unless it was whistled in.
    WalkEvent("walk-dispute-whistled", OTHER_KEJIYUAN_GRID, LABOUR_DISPUTE, _COMMUNITY_ROLES, whistle=True),
    WalkEvent("walk-unplaced", XILI_GRID, URBAN, frozenset(), unplaced=True),
)


@dataclass(frozen=True)
class EventFacts:
    """What an event is (not who may see it): its grid, its class's domain and the units it concerns."""

    ticket: str
    grid: str | None
    version: int
    domain: str
    units: frozenset[str]


def may_see_event(role: str, event: EventFacts) -> bool:
    """The key for events: the area, and for a department only what concerns its unit or is a public
    urban-management event."""
    if not KEY[role].sees(event.grid):
        return False
    if role == "department_handler":
        return event.domain == "urban" or DEPARTMENT in event.units
    return True


class World:
    """Codes and ids to knock with, read from the test database; inside/outside decided by the key."""

    def __init__(self, engine: Engine, tickets: dict[str, str]) -> None:
        self.tickets = tickets  # walk event key → ticket
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
            domains = {i: d for i, d in session.execute(select(EventCategory.id, EventCategory.domain))}
            summoned: dict[int, set[str]] = {}
            for event_id, unit in session.execute(
                select(Whistle.event_id, WhistleSummons.department_code).join(
                    WhistleSummons, WhistleSummons.whistle_id == Whistle.id
                )
            ):
                summoned.setdefault(event_id, set()).add(unit)
            self.events = {
                e.ticket: EventFacts(
                    e.ticket,
                    e.grid_code,
                    e.version,
                    domains[e.category_id],
                    frozenset(summoned.get(e.id, set()) | {e.handling_unit_code or ""}),
                )
                for e in session.scalars(select(Event).order_by(Event.id))
            }
            self.user_grants = {u.id: u.scope_codes.split(",") for u in session.scalars(select(UserAccount))}

    def outside_codes(self, key: Sees) -> list[str]:
        """A street, a community and a grid the role may not see (the nearest first: the demo community's
        other grid, the demo street's other community), plus a foreign district."""
        picks = [FUTIAN]
        for codes in (self.streets, self.communities, [OTHER_KEJIYUAN_GRID, OTHER_YUEHAI_GRID, *self.grids]):
            outside = next((c for c in codes if not key.touches(c)), None)
            if outside:
                picks.append(outside)
        return picks

    def inside_code(self, account: DemoAccount) -> str:
        return sorted(GRANTS[account.role][1])[0]

    def outside_point(self, key: Sees) -> tuple[float, float]:
        grid = next((c for c in [OTHER_KEJIYUAN_GRID, *self.grids] if not key.sees(c)), None)
        return self.grid_points[grid] if grid else HONG_KONG

    def address_codes(self, key: Sees) -> tuple[list[str], str | None]:
        """Addresses outside the key (the nearest first, plus an unknown code), and one inside it."""
        outside = [code for code, area in self.addresses if area and not key.sees(area)]
        near = [code for code, area in self.addresses if area and area.startswith(KEJIYUAN)]
        outside = [c for c in near if c in outside][:2] + outside[:2]
        inside = next((code for code, area in self.addresses if key.sees(area)), None)
        return [*outside, "99999999999999999999"], inside

    def event_tickets(self, role: str) -> tuple[list[tuple[str, int]], str | None]:
        """(ticket, version) of the walk's events the role may not see (plus an unknown ticket), and one
        it may see."""
        walk = [self.events[self.tickets[e.key]] for e in WALK_EVENTS]
        outside = [(e.ticket, e.version) for e in walk if not may_see_event(role, e)]
        inside = next((e.ticket for e in walk if may_see_event(role, e)), None)
        return [*outside, (UNKNOWN_TICKET, 1)], inside

    def outside_user(self, key: Sees, me: int) -> int:
        others = [
            uid for uid, codes in self.user_grants.items() if uid != me and not all(map(key.sees, codes))
        ]
        return others[0] if others else 999_999


def as_event_list(body: Any) -> list[dict[str, Any]]:
    """Events as a list of dicts, from a list route or from a GeoJSON FeatureCollection (the map's)."""
    if isinstance(body, dict) and body.get("type") == "FeatureCollection":
        return [feature["properties"] for feature in body["features"]]
    assert isinstance(body, list)
    return body


def point_in(session: Any, grid: str) -> tuple[float, float]:
    """A point that locates to ``grid``: its centroid, or a standard address's point in it."""
    from gridgov.areas.service import area_index

    index = area_index(session)
    centroid = session.execute(select(Grid.centroid_lon, Grid.centroid_lat).where(Grid.code == grid)).one()
    candidates = [tuple(centroid)] + [
        (lon, lat)
        for lon, lat in session.execute(
            select(StdAddress.lon, StdAddress.lat)
            .where(StdAddress.grid_code == grid, StdAddress.lon.is_not(None))
            .order_by(StdAddress.code)
        )
    ]
    for lon, lat in candidates:
        located = index.locate(lon, lat)
        if located.grid is not None and located.grid.code == grid:
            return float(lon), float(lat)
    raise AssertionError(f"no point locates to {grid}")


def seed_events(engine: Engine) -> dict[str, str]:
    """Event types, org units and the walk's events (``WALK_EVENTS``): in two grids of the demo community
    (one the grid worker's), another community of the demo street, and two more streets; a labour dispute
    not the department's and one whistled to it; one whose place was never located. Returns key → ticket."""
    from gridgov.events import service
    from gridgov.events.service import Actor, NewEvent

    desk = Actor(name="route-walk desk", scope=WHOLE_DISTRICT)
    tickets: dict[str, str] = {}
    with session_factory(engine)() as session:
        service.seed_org_units(session)
        service.seed_categories(session)
        for walk in WALK_EVENTS:
            lon, lat = point_in(session, walk.grid) if walk.grid else NANSHAN_POINT
            new = NewEvent(
                subtype_code=walk.subtype, title="探针事件", lon=lon, lat=lat, idempotency_key=walk.key
            )
            event, created = service.submit(session, new, actor=desk)
            if walk.grid:
                assert event.grid_code == walk.grid, f"{walk.key} landed in {event.grid_code}"
            else:
                assert (event.street_code, event.handling_unit_code) == ("440305002000", None), walk.key
            if created and walk.whistle:
                service.act(session, event, "accept", actor=desk)
                service.blow_whistle(session, event, actor=desk, ground="no_owner", departments=[DEPARTMENT])
            if created and walk.unplaced:
                event.grid_code = event.community_code = event.street_code = None
            assert event.handling_unit_code != DEPARTMENT, walk.key  # the department sees it only as keyed
            tickets[walk.key] = event.ticket
        session.commit()
    return tickets


@pytest.fixture(scope="module")
def world(engine: Engine, demo_accounts: dict[str, DemoAccount]) -> World:
    return World(engine, seed_events(engine))


def test_the_key_is_written_for_the_demo_accounts_grants(demo_accounts: dict[str, DemoAccount]) -> None:
    """The answer key's grants are the demo accounts' (a change in the demo plan must be keyed again)."""
    for role, (level, codes) in GRANTS.items():
        assert demo_accounts[role].scope == {"level": level, "codes": codes}, role


def test_the_walk_events_are_seen_as_keyed(world: World) -> None:
    """The event key (``may_see_event``, from the events' facts) agrees with the table written by hand, and
    the events are spread so that widening any scope by one level lets one in."""
    for walk in WALK_EVENTS:
        facts = world.events[world.tickets[walk.key]]
        assert {role for role in ROLES if may_see_event(role, facts)} == walk.seen_by, walk.key
    assert len({world.events[t].grid[:9] for t in world.tickets.values() if world.events[t].grid}) >= 3


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
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "999999999"), path)


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
        ("POST", "/api/users/{user_id}/unlock"): {},
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
    key = KEY[role]
    me = world.users[account.username]
    probed = 0
    for method, route in api_routes(app):
        kind = (route.openapi_extra or {}).get("x-scope")
        route_key = (method, route.path)
        if route_key in PUBLIC_ROUTES:
            continue
        assert kind is not None, f"{method} {route.path} declares no x-scope: scope it and declare how"
        if kind == "reference":
            assert route_key in REFERENCE_ROUTES, f"{method} {route.path} claims to be reference data"
            continue
        if kind == "area:path":
            for code in world.outside_codes(key):
                response = client.request(method, fill_path(route.path, {"code": code}))
                assert response.status_code in (403, 404), f"{role} {method} {route.path} with {code}"
            inside = client.request(method, fill_path(route.path, {"code": world.inside_code(account)}))
            assert inside.status_code == 200, f"{role} cannot read its own area via {route.path}"
        elif kind == "address:path":
            outside, inside_code = world.address_codes(key)
            for code in outside:
                response = client.request(method, fill_path(route.path, {"code": code}))
                assert response.status_code in (403, 404), f"{role} {method} {route.path} with {code}"
            if inside_code is not None:
                assert client.request(method, fill_path(route.path, {"code": inside_code})).status_code == 200
        elif kind == "address:write":
            # Changes an address named in the path: refused outside the scope (or without the permission).
            outside, inside_code = world.address_codes(key)
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
            if world.address_codes(key)[1] is not None:
                assert found, f"{role} found no address in its own scope"
            leaked = [a["code"] for a in found if not key.sees(a["grid_code"] or a["community_code"])]
            assert not leaked, f"{role} {method} {route.path} lists addresses outside its scope: {leaked[:3]}"
        elif kind == "address:match":
            outside, inside_code = world.address_codes(key)
            # District scopes have no address outside them: knock with the first few addresses anyway.
            texts = [world.address_texts[c] for c in outside if c in world.address_texts] or [
                text for _, text in zip(range(3), world.address_texts.values(), strict=False)
            ]
            response = client.request(method, route.path, json={"texts": texts})
            assert response.status_code == 200, f"{role} {method} {route.path}: {response.text[:200]}"
            leaked = [
                r["std_code"]
                for r in response.json()
                if r["std_code"] and not key.sees(r["grid_code"] or r["community_code"])
            ]
            assert not leaked, (
                f"{role} {method} {route.path} matched addresses outside its scope: {leaked[:3]}"
            )
        elif kind == "area:list":
            params = {"q": "社区", "limit": 100} if "{" not in route.path and "search" in route.path else {}
            response = client.request(method, route.path, params=params)
            assert response.status_code == 200, f"{role} {method} {route.path}: {response.text[:200]}"
            leaked = [c for c in all_codes(response.json()) if not key.touches(c)]
            assert not leaked, f"{role} {method} {route.path} lists {leaked[:3]} outside its scope"
        elif kind == "area:point":
            lon, lat = world.outside_point(key)
            response = client.request(method, route.path, params={"lon": lon, "lat": lat})
            if response.status_code == 200:
                assert response.json()["grid"] is None, f"{role} located a point outside its scope"
            else:
                assert response.status_code in (403, 404)
        elif kind == "area:body":
            for code in world.outside_codes(key):
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
                listed = {e["ticket"] for e in found}
                leaked = [t for t in listed if not may_see_event(role, world.events[t])]
                assert not leaked, f"{role} {method} {route.path} lists events outside its scope: {leaked}"
                if len(found) < 500:  # every walk event the role may see is listed
                    missing = [
                        w.key for w in WALK_EVENTS if role in w.seen_by and world.tickets[w.key] not in listed
                    ]
                    assert not missing, f"{role} {method} {route.path} does not list {missing}"
                # Asking for another street by filter does not widen the scope.
                for code in world.outside_codes(key)[1:2]:
                    response = client.request(method, route.path, params={"street_code": code})
                    assert response.status_code == 200, f"{role} street {code}"
                    assert as_event_list(response.json()) == [], f"{role} street {code}"
        elif kind == "event:path":
            holds = route_permission(route) in {p.value for p in _permissions(role)}
            outside, _inside = world.event_tickets(role)
            for ticket, _version in outside:
                response = client.request(method, fill_path(route.path, {"ticket": ticket}))
                assert response.status_code in (403, 404), f"{role} {method} {route.path} with {ticket}"
            for walk in WALK_EVENTS:
                if role in walk.seen_by:
                    response = client.request(
                        method, fill_path(route.path, {"ticket": world.tickets[walk.key]})
                    )
                    assert response.status_code == (200 if holds else 403), f"{role} {route.path} {walk.key}"
        elif kind == "event:write":
            holds = route_permission(route) in {p.value for p in _permissions(role)}
            outside, inside_ticket = world.event_tickets(role)
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
            lon, lat = world.outside_point(key)
            body = {"subtype_code": "0101", "title": "探针事件", "lon": lon, "lat": lat}
            response = client.request(method, route.path, json=body)
            # A district scope has no point of the district outside it: Hong Kong is refused (422) instead.
            expected = ((403, 404) if (lon, lat) != HONG_KONG else (422,)) if holds else (403,)
            assert response.status_code in expected, f"{role} {method} {route.path}: {response.text[:200]}"
        elif kind == "user:path":
            other = world.outside_user(key, me)
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
            leaked = [c for c in codes if not key.sees(c)]
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
    # The allowlist stays small and explicit: exactly these, written by hand.
    assert {("POST", "/api/auth/token"), ("GET", "/health")} == PUBLIC_ROUTES
    assert {("GET", "/api/areas/stats")} == REFERENCE_ROUTES
