"""One demo account per role, with scopes in a real street (粤海街道) and community (科技园社区).

Once the block data is in and the rules have made their verification tasks, the demo community and grid
accounts are placed where that work is (`place_demo_accounts`): 科技园社区 when tasks lie in it, else the
community of 粤海街道 with the most — a newcomer logging in as either should find tasks to answer.

Passwords are random, made when the accounts are created, and kept in ``<var_dir>/demo-accounts.json``
(mode 0600) so that ``gridgov demo users`` can print them; nothing secret is written in the code.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gridgov.accounts import service
from gridgov.accounts.models import UserAccount
from gridgov.accounts.permissions import Role
from gridgov.areas.models import Community, Grid
from gridgov.core.errors import NotFound
from gridgov.core.settings import get_settings

DEMO_STREET = "440305007000"  # 粤海街道
DEMO_COMMUNITY = "440305007003"  # 科技园社区


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: str
    scope: dict[str, object]
    display_name: str
    org_unit: str


# username, role, display name, org unit (code, name, kind), scope level, scope codes (None: demo grids)
_PLAN: tuple[tuple[str, Role, str, tuple[str, str, str], str, tuple[str, ...] | None], ...] = (
    (
        "demo.admin",
        Role.admin,
        "系统管理员",
        ("NS-ADMIN", "南山区政务服务数据管理局", "department"),
        "district",
        ("440305000000",),
    ),
    (
        "demo.district",
        Role.district_operator,
        "区指挥中心值班员",
        ("NS-CMD", "南山区指挥中心", "command_centre"),
        "district",
        ("440305000000",),
    ),
    (
        "demo.street",
        Role.street_operator,
        "粤海街道指挥中心",
        ("YH-CMD", "粤海街道指挥中心", "command_centre"),
        "street",
        (DEMO_STREET,),
    ),
    (
        "demo.community",
        Role.community_staff,
        "科技园社区工作站",
        ("YH-KJY", "科技园社区工作站", "workstation"),
        "community",
        (DEMO_COMMUNITY,),
    ),
    (
        "demo.grid",
        Role.grid_worker,
        "科技园社区网格员",
        ("YH-KJY", "科技园社区工作站", "workstation"),
        "grids",
        None,
    ),
    (
        "demo.department",
        Role.department_handler,
        "区城管局执法队",
        ("D-CG", "南山区城市管理和综合执法局", "department"),  # the seeded 1+8+N department (events)
        "district",
        ("440305000000",),
    ),
    (
        "demo.contractor",
        Role.contractor,
        "物业服务外包",
        ("YH-WY01", "粤海街道环卫服务公司", "contractor"),
        "street",
        (DEMO_STREET,),
    ),
    (
        "demo.auditor",
        Role.auditor,
        "审计员",
        ("NS-AUDIT", "南山区审计局", "department"),
        "district",
        ("440305000000",),
    ),
)


def accounts_file() -> Path:
    return get_settings().var_dir / "demo-accounts.json"


def _demo_grids(
    session: Session, community: str = DEMO_COMMUNITY, *, by_tasks: bool = False
) -> tuple[str, ...]:
    """Three grids of the demo community, those with the most addresses first (so the demo shows data);
    ``by_tasks``: those with the most open verification tasks first."""
    from gridgov.address.models import StdAddress
    from gridgov.tasks.models import Task

    addresses = (
        select(StdAddress.grid_code, func.count().label("n")).group_by(StdAddress.grid_code).subquery()
    )
    tasks = (
        select(Task.grid_code, func.count().label("n"))
        .where(Task.state == "open", Task.community_code == community)
        .group_by(Task.grid_code)
        .subquery()
    )
    codes = tuple(
        session.scalars(
            select(Grid.code)
            .outerjoin(tasks, tasks.c.grid_code == Grid.code)
            .outerjoin(addresses, addresses.c.grid_code == Grid.code)
            .where(Grid.community_code == community)
            .order_by(
                *([func.coalesce(tasks.c.n, 0).desc()] if by_tasks else []),
                func.coalesce(addresses.c.n, 0).desc(),
                Grid.code,
            )
            .limit(3)
        )
    )
    if not codes:
        raise NotFound("Load the areas before the demo accounts (`gridgov demo load`)")
    return codes


@dataclass(frozen=True)
class DemoPlace:
    """Where the demo community account works (a community) and the demo grid worker (its grids)."""

    community: str
    community_name: str
    grids: tuple[str, ...]


def where_the_work_is(session: Session) -> DemoPlace | None:
    """The demo community and grids with open verification tasks: 科技园社区 when any lie in it, else the
    community of 粤海街道 with the most (the lower code on a tie); its three grids with the most. None when
    no open task lies in 粤海街道 (the block data not loaded, say)."""
    from gridgov.tasks.models import Task

    per_community: dict[str | None, int] = {
        code: n
        for code, n in session.execute(
            select(Task.community_code, func.count())
            .where(Task.state == "open", Task.street_code == DEMO_STREET, Task.community_code.is_not(None))
            .group_by(Task.community_code)
        )
    }
    if not per_community:
        return None
    community: str | None = DEMO_COMMUNITY
    if not per_community.get(DEMO_COMMUNITY):
        community = min(per_community, key=lambda code: (-per_community[code], code or ""))
    assert community is not None
    name = session.scalars(select(Community.name).where(Community.code == community)).one()
    return DemoPlace(community, name, _demo_grids(session, community, by_tasks=True))


def place_demo_accounts(session: Session, place: DemoPlace) -> list[DemoAccount]:
    """Give the demo community account ``place``'s community and the demo grid worker its grids (names and
    org unit follow: "<community>工作站", "<community>网格员"); the accounts file follows. Returns the
    accounts as now kept."""
    unit = service.get_or_create_org_unit(
        session, code=f"W-{place.community}", name=f"{place.community_name}工作站", kind="workstation"
    )
    moved = {
        "demo.community": (service.parse_scope("community", [place.community]), "工作站"),
        "demo.grid": (service.parse_scope("grids", list(place.grids)), "网格员"),
    }
    accounts = []
    for account in read_demo_accounts():
        if account.username in moved:
            scope, title = moved[account.username]
            user = session.scalars(select(UserAccount).where(UserAccount.username == account.username)).one()
            service.reassign(
                session, user, scope=scope, display_name=f"{place.community_name}{title}", org_unit=unit
            )
            account = DemoAccount(
                account.username,
                account.password,
                account.role,
                scope.describe(),
                user.display_name,
                unit.name,
            )
        accounts.append(account)
    session.flush()
    _write(accounts)
    return accounts


def create_demo_accounts(session: Session) -> list[DemoAccount]:
    """Create the demo accounts that do not exist yet; returns all of them with their passwords."""
    known = {a.username: a for a in read_demo_accounts()}
    accounts: list[DemoAccount] = []
    for username, role, display, (unit_code, unit_name, kind), level, codes in _PLAN:
        scope = service.parse_scope(level, list(codes or _demo_grids(session)))
        existing = session.scalars(select(UserAccount).where(UserAccount.username == username)).first()
        if existing is not None and username in known:
            accounts.append(known[username])
            continue
        password = f"{secrets.token_urlsafe(9)}-{secrets.randbelow(90) + 10}"
        if existing is not None:  # the file was lost: give the account a new password we can print
            existing.password_hash = service.hash_password(password)
        else:
            service.get_or_create_org_unit(session, code=unit_code, name=unit_name, kind=kind)
            service.create_user(
                session,
                service.NewUser(
                    username=username,
                    password=password,
                    role=role,
                    scope=scope,
                    display_name=display,
                    org_unit_code=unit_code,
                    phone=f"1380013{len(accounts):04d}",
                ),
            )
        accounts.append(DemoAccount(username, password, role.value, scope.describe(), display, unit_name))
    session.flush()
    _write(accounts)
    return accounts


def _write(accounts: list[DemoAccount]) -> None:
    path = accounts_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump([asdict(a) for a in accounts], handle, ensure_ascii=False, indent=2)
    tmp.replace(path)


def read_demo_accounts() -> list[DemoAccount]:
    path = accounts_file()
    if not path.exists():
        return []
    return [DemoAccount(**row) for row in json.loads(path.read_text(encoding="utf-8"))]
