"""Account rules: passwords, lock-out, sessions, tokens, scopes and personal data of accounts.

The only place that writes accounts. Secrets (session cookies, API tokens) are random and stored as
SHA-256 digests: they carry enough entropy that a slow hash buys nothing, and lookups stay O(1).
Passwords are hashed with argon2id.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from gridgov.accounts.models import ApiToken, LoginThrottle, OrgUnit, UserAccount, WebSession
from gridgov.accounts.permissions import Permission, Role, permissions_of
from gridgov.accounts.scoping import AreaScope, Forbidden, Principal, ScopeLevel
from gridgov.audit.service import record
from gridgov.core import clock
from gridgov.core.errors import GridgovError, InvalidInput, NotFound

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=12)
TOKEN_MAX_DAYS = 365
TOKEN_PREFIX = "ggv_"
USERNAME_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{2,63}$")
MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


class InvalidCredentials(GridgovError):
    code = "invalid_credentials"
    http_status = 401


class LockedOut(GridgovError):
    code = "locked_out"
    http_status = 429


def _utc(moment: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; we store aware ones. Compare on aware values only."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=clock.CHINA_TZ)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------------
# Passwords


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must be at least {MIN_PASSWORD_LENGTH} characters long")
    if password.isdigit() or password.isalpha():
        raise InvalidInput("The password must mix letters with digits or symbols")


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# ---------------------------------------------------------------------------------------------------------
# Scopes


def parse_scope(level: str, codes: list[str] | str) -> AreaScope:
    """Validate a scope's shape: a district, one street, one community, or grids of one community."""
    items = [c.strip() for c in (codes.split(",") if isinstance(codes, str) else codes) if c.strip()]
    try:
        scope_level = ScopeLevel(level)
    except ValueError as exc:
        raise InvalidInput(
            f"Unknown scope level '{level}': use district, street, community or grids"
        ) from exc
    if not items:
        raise InvalidInput("A scope needs at least one area code")
    from gridgov.areas.service import level_of_code

    wanted = "grid" if scope_level is ScopeLevel.grids else scope_level.value
    for code in items:
        if not code.isdigit() or len(code) not in (12, 15) or level_of_code(code) != wanted:
            raise InvalidInput(f"'{code}' is not a {scope_level.value} code")
    if scope_level is not ScopeLevel.grids and len(items) != 1:
        raise InvalidInput(f"A {scope_level.value} scope names exactly one area")
    return AreaScope.of(scope_level, items)


def _ensure_areas_exist(session: Session, scope: AreaScope) -> None:
    from gridgov.areas.scope import WHOLE_DISTRICT
    from gridgov.areas.service import get_area

    if scope == WHOLE_DISTRICT:
        return  # the first administrator is made before any area is loaded
    for code in scope.codes:
        get_area(session, code)  # NotFound names the missing code


def scope_of(user: UserAccount) -> AreaScope:
    return AreaScope.of(user.scope_level, [c for c in user.scope_codes.split(",") if c])


def principal_of(
    user: UserAccount, *, via: str = "session", token: ApiToken | None = None, org_unit: OrgUnit | None = None
) -> Principal:
    role = Role(user.role)
    token_permissions = None
    if token is not None:
        token_permissions = frozenset(Permission(p) for p in token.permissions.split(",") if p)
    return Principal(
        user_id=user.id,
        username=user.username,
        role=role,
        scope=scope_of(user),
        org_unit=org_unit.name if org_unit else None,
        via=via,
        permissions=permissions_of(role),
        token_permissions=token_permissions,
        org_unit_code=org_unit.code if org_unit else None,
        display_name=user.display_name,
    )


# ---------------------------------------------------------------------------------------------------------
# Org units and users


def get_or_create_org_unit(
    session: Session, *, code: str, name: str, kind: str, area_code: str | None = None
) -> OrgUnit:
    unit = session.scalars(select(OrgUnit).where(OrgUnit.code == code)).first()
    if unit is None:
        unit = OrgUnit(code=code, name=name, kind=kind, area_code=area_code)
        session.add(unit)
        session.flush()
    return unit


@dataclass(frozen=True)
class NewUser:
    username: str
    password: str
    role: Role
    scope: AreaScope
    display_name: str = ""
    org_unit_code: str | None = None
    phone: str | None = None


def create_user(session: Session, new: NewUser, *, created_by: Principal | None = None) -> UserAccount:
    """A new account. Through the API (``created_by``), its scope must lie inside the creator's."""
    from gridgov.core.crypto import encrypt, lookup_hash
    from gridgov.core.identifiers import normalise_phone

    username = new.username.strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise InvalidInput(
            "A username is 3–64 characters: lower-case letters, digits, '_', '.', '-', starting with a letter"
        )
    if session.scalars(select(UserAccount).where(UserAccount.username == username)).first() is not None:
        raise InvalidInput(f"The username '{username}' is taken")
    check_password_policy(new.password)
    if created_by is not None:
        for code in new.scope.codes:
            created_by.require_area(code)
    _ensure_areas_exist(session, new.scope)
    org_unit_id = None
    if new.org_unit_code:
        unit = session.scalars(select(OrgUnit).where(OrgUnit.code == new.org_unit_code)).first()
        if unit is None:
            raise NotFound(f"No org unit with code '{new.org_unit_code}'")
        org_unit_id = unit.id
    phone_encrypted = phone_hash = None
    if new.phone:
        phone = normalise_phone(new.phone)
        phone_encrypted = encrypt(phone, PHONE_CONTEXT)
        phone_hash = lookup_hash(phone, PHONE_CONTEXT)
    user = UserAccount(
        username=username,
        display_name=new.display_name or username,
        password_hash=hash_password(new.password),
        role=new.role.value,
        org_unit_id=org_unit_id,
        scope_level=new.scope.level.value,
        scope_codes=",".join(sorted(new.scope.codes)),
        phone_encrypted=phone_encrypted,
        phone_hash=phone_hash,
        is_active=True,
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    return user


PHONE_CONTEXT = "accounts.user.phone"


def get_user(session: Session, user_id: int) -> UserAccount:
    user = session.get(UserAccount, user_id)
    if user is None:
        raise NotFound(f"No account with id {user_id}")
    return user


def get_user_by_name(session: Session, username: str) -> UserAccount:
    user = session.scalars(
        select(UserAccount).where(UserAccount.username == username.strip().lower())
    ).first()
    if user is None:
        raise NotFound(f"No account named '{username}'")
    return user


def visible_to(principal: Principal, user: UserAccount) -> bool:
    """An account is visible when its whole scope lies inside the caller's (or it is the caller)."""
    if user.id == principal.user_id:
        return True
    return all(principal.scope.covers(code) for code in scope_of(user).codes)


def scoped_user(session: Session, principal: Principal, user_id: int) -> UserAccount:
    """The account, if the caller may see it; otherwise 404 (not 403: no hint that it exists)."""
    user = session.get(UserAccount, user_id)
    if user is None or not visible_to(principal, user):
        raise NotFound(f"No account with id {user_id}")
    return user


def list_users(session: Session, principal: Principal | None = None) -> list[UserAccount]:
    """All accounts (CLI, principal None) or those inside the caller's scope."""
    users = list(session.scalars(select(UserAccount).order_by(UserAccount.username)))
    if principal is None:
        return users
    return [u for u in users if visible_to(principal, u)]


def reassign(
    session: Session, user: UserAccount, *, scope: AreaScope, display_name: str, org_unit: OrgUnit
) -> UserAccount:
    """Move an account to another area and org unit (its role and password stay); the write is audited
    by the write hook, and the process forgets the tokens it trusted (any flush touching an account)."""
    user.scope_level = scope.level.value
    user.scope_codes = ",".join(sorted(scope.codes))
    user.display_name = display_name
    user.org_unit_id = org_unit.id
    session.flush()
    return user


def set_active(session: Session, user: UserAccount, active: bool) -> UserAccount:
    user.is_active = active
    if not active:
        for web_session in session.scalars(
            select(WebSession).where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None))
        ):
            web_session.revoked_at = clock.now()
    session.flush()
    return user


def org_unit_of(session: Session, user: UserAccount) -> OrgUnit | None:
    return session.get(OrgUnit, user.org_unit_id) if user.org_unit_id else None


# ---------------------------------------------------------------------------------------------------------
# Login and lock-out


class LockedOutFrom(LockedOut):
    """This client address is locked out of this account for ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


_dummy_hash: str | None = None


def _dummy_password_hash() -> str:
    """A real argon2id hash of nothing anyone knows: an unknown, disabled or locked name is verified
    against it, so every login attempt costs one password verification and the time tells nothing."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hash


def _address_key(client_address: str | None) -> str:
    return (client_address or "unknown")[:64]


def authenticate(
    session: Session, username: str, password: str, *, client_address: str | None = None
) -> UserAccount:
    """The account for these credentials; InvalidCredentials (401) or LockedOutFrom (429) otherwise.

    Failures are counted per username (whether or not it exists) *and* client address: the fifth failure
    within 15 minutes from one address locks that address out of that name for 15 minutes, while the
    right password from another address still works (slowed down by `login_delay` while the name is under
    attack). While locked even the right password is refused from that address. Every attempt verifies
    one password hash (a dummy one for an unknown, disabled or locked name).
    """
    name = username.strip().lower()[:64]
    address = _address_key(client_address)
    now = clock.now()
    throttle = session.get(LoginThrottle, (name, address))
    locked_until = _utc(throttle.locked_until) if throttle else None
    if throttle is not None and locked_until is not None and locked_until > now:
        _password_matches(_dummy_password_hash(), password)  # the same work as any other attempt
        seconds = max(1, int((locked_until - now).total_seconds()) + 1)
        minutes = max(1, seconds // 60 + (1 if seconds % 60 else 0))
        raise LockedOutFrom(
            f"Too many failed logins from your address: this account is locked for you for {minutes} more "
            "minute(s). Try again later or ask an administrator to unlock it.",
            retry_after=seconds,
        )
    user = session.scalars(select(UserAccount).where(UserAccount.username == name)).first()
    active = user if user is not None and user.is_active else None
    matches = _password_matches(active.password_hash if active else _dummy_password_hash(), password)
    if active is not None and matches:
        if throttle is not None:
            session.delete(throttle)
        active.last_login_at = now
        if _hasher.check_needs_rehash(active.password_hash):
            active.password_hash = hash_password(password)
        session.flush()
        return active
    if throttle is None:
        throttle = LoginThrottle(username=name, client_address=address, failures=0, first_failure_at=now)
        session.add(throttle)
    first = _utc(throttle.first_failure_at)
    if first is None or now - first > LOCKOUT:
        throttle.failures, throttle.first_failure_at = 0, now
    throttle.failures += 1
    throttle.last_failure_at = now
    throttle.locked_until = now + LOCKOUT if throttle.failures >= MAX_FAILURES else None
    record(
        session,
        action="auth.login_failed",
        object_type="user_account",
        object_id=str(user.id) if user else None,
        details={"failures": throttle.failures, "locked": throttle.locked_until is not None},
    )
    session.flush()
    # The caller must commit before answering, so the count survives the error response.
    raise InvalidCredentials("Wrong username or password")


#: Login slow-down while a name is under attack from other addresses: this many seconds per
#: ``MAX_FAILURES`` failures from them in the last 15 minutes, at most ``MAX_LOGIN_DELAY``.
LOGIN_DELAY_STEP = 0.5
MAX_LOGIN_DELAY = 5.0


def login_delay(session: Session, username: str, client_address: str | None) -> float:
    """Seconds to wait before trying this login: none unless other addresses failed on this name at least
    ``MAX_FAILURES`` times in the last 15 minutes; then half a second for every five of their failures, at
    most five seconds. The wait slows a guesser spread over many addresses; it never locks anyone out."""
    name = username.strip().lower()[:64]
    since = clock.now() - LOCKOUT
    others = session.scalar(
        select(func.coalesce(func.sum(LoginThrottle.failures), 0)).where(
            LoginThrottle.username == name,
            LoginThrottle.client_address != _address_key(client_address),
            LoginThrottle.last_failure_at >= since,
        )
    )
    steps = int(others or 0) // MAX_FAILURES
    return min(MAX_LOGIN_DELAY, steps * LOGIN_DELAY_STEP)


def locked_addresses(session: Session, usernames: list[str]) -> dict[str, int]:
    """How many client addresses each of these names is locked for right now (names with none left out)."""
    if not usernames:
        return {}
    rows = session.execute(
        select(LoginThrottle.username, func.count())
        .where(LoginThrottle.username.in_(usernames), LoginThrottle.locked_until > clock.now())
        .group_by(LoginThrottle.username)
    )
    return {str(name): int(count) for name, count in rows}


def unlock(session: Session, user: UserAccount, *, reason: str = "") -> int:
    """Forget every failed login of this account, from every address (locks included); audited. Returns how
    many address records were cleared."""
    rows = list(session.scalars(select(LoginThrottle).where(LoginThrottle.username == user.username)))
    for row in rows:
        session.delete(row)
    record(
        session,
        action="auth.unlock",
        object_type="user_account",
        object_id=str(user.id),
        reason=reason.strip() or None,
        details={"addresses": len(rows)},
    )
    session.flush()
    return len(rows)


# ---------------------------------------------------------------------------------------------------------
# Web sessions


@dataclass(frozen=True)
class IssuedSession:
    secret: str  # goes into the cookie; never stored
    csrf_token: str
    expires_at: datetime


def start_session(session: Session, user: UserAccount, client_address: str | None) -> IssuedSession:
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    now = clock.now()
    row = WebSession(
        secret_hash=_digest(secret),
        user_id=user.id,
        csrf_token=csrf,
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
        client_address=client_address,
    )
    session.add(row)
    session.flush()
    return IssuedSession(secret, csrf, row.expires_at)


@dataclass(frozen=True)
class Resolved:
    principal: Principal
    csrf_token: str | None  # sessions only: what unsafe requests must echo
    expires_at: datetime | None = None  # tokens: when the credential stops working


Credential = TypeVar("Credential", ApiToken, WebSession)


def _with_account(
    session: Session, model: type[Credential], secret: str
) -> tuple[Credential, UserAccount, OrgUnit | None] | None:
    """The credential with this secret, its account and the account's unit, in one round trip: this runs
    on every request that carries a token or a session cookie."""
    found = session.execute(
        select(model, UserAccount, OrgUnit)
        .join(UserAccount, UserAccount.id == model.user_id)
        .outerjoin(OrgUnit, OrgUnit.id == UserAccount.org_unit_id)
        .where(model.secret_hash == _digest(secret))
    ).first()
    return None if found is None else (found[0], found[1], found[2])


def resolve_session(session: Session, secret: str) -> Resolved | None:
    found = _with_account(session, WebSession, secret)
    if found is None:
        return None
    row, user, unit = found
    expires = _utc(row.expires_at)
    if row.revoked_at is not None or expires is None or expires <= clock.now() or not user.is_active:
        return None
    return Resolved(principal_of(user, via="session", org_unit=unit), row.csrf_token)


def end_session(session: Session, secret: str) -> None:
    row = session.scalars(select(WebSession).where(WebSession.secret_hash == _digest(secret))).first()
    if row is not None and row.revoked_at is None:
        row.revoked_at = clock.now()
        session.flush()


# ---------------------------------------------------------------------------------------------------------
# API tokens


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once
    row: ApiToken


def issue_token(
    session: Session,
    user: UserAccount,
    *,
    name: str,
    permissions: list[str] | None = None,
    expires_days: int = 90,
    issued_by: Principal | None = None,
) -> IssuedToken:
    """A new token for ``user``, limited to ``permissions`` (default: all the owner's).

    When a caller holding a narrower token asks for one (``issued_by``), the new token cannot exceed it.
    """
    if not user.is_active:
        raise Forbidden("A disabled account cannot hold tokens")
    if not 1 <= expires_days <= TOKEN_MAX_DAYS:
        raise InvalidInput(f"A token lives 1 to {TOKEN_MAX_DAYS} days")
    owned = permissions_of(Role(user.role))
    if issued_by is not None:
        owned = frozenset(p for p in owned if issued_by.can(p))
    if permissions is None:
        granted = set(owned)
    else:
        try:
            granted = {Permission(p) for p in permissions}
        except ValueError as exc:
            raise InvalidInput(f"Unknown permission: {exc}") from exc
        beyond = granted - owned
        if beyond:
            raise Forbidden(
                "A token cannot carry permissions its owner lacks: "
                + ", ".join(sorted(p.value for p in beyond))
            )
    clean_name = name.strip()[:64]
    if not clean_name:
        raise InvalidInput("Give the token a name (what integration uses it)")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    row = ApiToken(
        user_id=user.id,
        name=clean_name,
        secret_hash=_digest(secret),
        prefix=secret[:10],
        permissions=",".join(sorted(p.value for p in granted)),
        created_at=now,
        expires_at=now + timedelta(days=expires_days),
    )
    session.add(row)
    session.flush()
    return IssuedToken(secret, row)


def resolve_token(session: Session, secret: str) -> Resolved | None:
    if not secret.startswith(TOKEN_PREFIX):
        return None
    found = _with_account(session, ApiToken, secret)
    if found is None:
        return None
    row, user, unit = found
    now = clock.now()
    expires = _utc(row.expires_at)
    if row.revoked_at is not None or expires is None or expires <= now or not user.is_active:
        return None
    last_used = _utc(row.last_used_at)
    if last_used is None or now - last_used > timedelta(minutes=5):  # don't write on every request
        row.last_used_at = now
        session.flush()
    principal = principal_of(user, via="token", token=row, org_unit=unit)
    return Resolved(principal, None, expires)


# Bearer tokens resolved recently, by digest: (monotonic time until which it is trusted, the answer, when the
# token expires). An API client sends the same token on every request; resolving it costs a pooled
# connection, a query and a commit, which under load is a large share of a small request.
_RECENT_TOKENS: dict[str, tuple[float, Resolved, datetime]] = {}
_RECENT_TOKENS_MAX = 10_000
_recent_lock = threading.Lock()
_seconds = time.monotonic  # replaced in tests to step past the trust period


def recently_resolved_token(secret: str) -> Resolved | None:
    """The answer ``resolve_token`` gave for this token within ``token_cache_seconds``, while the token has
    not expired; None: ask the database (``resolve_token``, then ``remember_token``)."""
    digest = _digest(secret)
    with _recent_lock:
        found = _RECENT_TOKENS.get(digest)
    if found is None:
        return None
    trusted_until, resolved, expires = found
    if _seconds() >= trusted_until or expires <= clock.now():
        with _recent_lock:
            _RECENT_TOKENS.pop(digest, None)
        return None
    return resolved


def remember_token(secret: str, resolved: Resolved) -> None:
    from gridgov.core.settings import get_settings

    seconds = get_settings().token_cache_seconds
    token = resolved.principal
    expires = _utc(resolved.expires_at) if resolved.expires_at is not None else None
    if seconds <= 0 or token.via != "token" or expires is None:
        return
    with _recent_lock:
        if len(_RECENT_TOKENS) >= _RECENT_TOKENS_MAX:
            _RECENT_TOKENS.clear()
        _RECENT_TOKENS[_digest(secret)] = (_seconds() + seconds, resolved, expires)


def forget_resolved_tokens() -> None:
    with _recent_lock:
        _RECENT_TOKENS.clear()


_CREDENTIAL_MODELS = (ApiToken, UserAccount, OrgUnit)


def _forget_on_account_change(session: Session, _flush_context: Any) -> None:
    # A token revoked, an account disabled or changed, a unit renamed: in this process, trust nothing
    # resolved before (other processes stop trusting within token_cache_seconds).
    for objects in (session.new, session.dirty, session.deleted):
        if any(isinstance(obj, _CREDENTIAL_MODELS) for obj in objects):
            forget_resolved_tokens()
            return


event.listen(Session, "after_flush", _forget_on_account_change)


def list_tokens(session: Session, user_id: int) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)))


def revoke_token(session: Session, principal: Principal, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != principal.user_id and not principal.can(Permission.users_manage)):
        raise NotFound(f"No token with id {token_id}")
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        session.flush()
    return row


# ---------------------------------------------------------------------------------------------------------
# Personal data of accounts


def masked_phone(user: UserAccount) -> str | None:
    from gridgov.core.crypto import decrypt
    from gridgov.core.identifiers import mask_phone

    if not user.phone_encrypted:
        return None
    return mask_phone(decrypt(user.phone_encrypted, PHONE_CONTEXT))


def reveal_phone(session: Session, principal: Principal, user_id: int, reason: str) -> str | None:
    """The unmasked phone number: needs the permission, the account in scope and a typed reason."""
    from gridgov.core.crypto import decrypt

    principal.require(Permission.personal_reveal)
    clean_reason = reason.strip()
    if len(clean_reason) < 4:
        raise InvalidInput("Say why you need to see this (at least 4 characters); the reason is audited")
    user = scoped_user(session, principal, user_id)
    record(
        session,
        action="personal.reveal",
        object_type="user_account",
        object_id=str(user.id),
        reason=clean_reason,
        details={"field": "phone"},
    )
    if not user.phone_encrypted:
        return None
    return decrypt(user.phone_encrypted, PHONE_CONTEXT)


def find_user_by_phone(session: Session, phone: str) -> UserAccount | None:
    """Exact lookup through the keyed hash, without decrypting every row."""
    from gridgov.core.crypto import lookup_hash
    from gridgov.core.identifiers import normalise_phone

    digest = lookup_hash(normalise_phone(phone), PHONE_CONTEXT)
    return session.scalars(select(UserAccount).where(UserAccount.phone_hash == digest)).first()


def user_summary(session: Session, user: UserAccount, *, reveal: bool = False) -> dict[str, Any]:
    from gridgov.core.crypto import decrypt

    unit = org_unit_of(session, user)
    phone = (
        decrypt(user.phone_encrypted, PHONE_CONTEXT)
        if reveal and user.phone_encrypted
        else masked_phone(user)
    )
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "org_unit": unit.name if unit else None,
        "scope": scope_of(user).describe(),
        "phone": phone,
        "is_active": user.is_active,
    }


def reencrypt_personal_data(session: Session) -> int:
    """Re-encrypt every encrypted account field under the active key; returns how many changed."""
    from gridgov.core.crypto import get_keyring

    keyring = get_keyring()
    changed = 0
    for user in session.scalars(select(UserAccount).where(UserAccount.phone_encrypted.is_not(None))):
        assert user.phone_encrypted is not None
        token = keyring.reencrypt(user.phone_encrypted, PHONE_CONTEXT)
        if token != user.phone_encrypted:
            user.phone_encrypted = token
            changed += 1
    session.flush()
    return changed


EXPORT_HEADER = ["id", "username", "display_name", "role", "org_unit", "scope", "phone", "is_active"]


def export_users(session: Session, principal: Principal, reason: str) -> tuple[list[str], list[list[Any]]]:
    """Accounts in the caller's scope for a spreadsheet: phones masked unless the caller may reveal them,
    in which case a reason is required. Every export is audited."""
    reveal_allowed = principal.can(Permission.personal_reveal)
    clean_reason = reason.strip()
    if reveal_allowed and len(clean_reason) < 4:
        raise InvalidInput("An unmasked export needs a reason (at least 4 characters); it is audited")
    users = list_users(session, principal)
    record(
        session,
        action="data.export",
        object_type="user_account",
        reason=clean_reason or None,
        details={"rows": len(users), "masked": not reveal_allowed},
    )
    rows = []
    for user in users:
        summary = user_summary(session, user, reveal=reveal_allowed)
        rows.append(
            [
                summary["id"],
                summary["username"],
                summary["display_name"],
                summary["role"],
                summary["org_unit"],
                ",".join(summary["scope"]["codes"]),
                summary["phone"] or "",
                summary["is_active"],
            ]
        )
    return EXPORT_HEADER, rows
