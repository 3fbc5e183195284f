"""Per-client rate limits on the anonymous doors (public intake, Open311, login, API-key failures).

Built on the `limits` library: a moving window per (limit name, client address), kept in memory per process
by default, or in Redis when ``GRIDGOV_REDIS_URL`` is set (then every server process shares the counts).
Each limit is a `limits` string such as ``"20/minute"`` or ``"10/minute;100/hour"`` (settings
``GRIDGOV_RATE_LIMITS_*``). An app holds one `RateLimiter` (``app.state.rate_limiter``, made from the
settings on first use; tests put their own there). A refused call answers 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from fastapi import Request
from fastapi.responses import JSONResponse
from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from gridgov.core.errors import GridgovError
from gridgov.core.settings import Settings, get_settings

#: The limits an app applies, by name, and the setting each comes from.
LIMIT_NAMES: Final = ("report", "open311_post", "open311_get", "ticket_page", "login", "key_failures")


class RateLimited(GridgovError):
    """Too many calls from this client: try again after ``retry_after`` seconds."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Limit:
    text: str
    items: tuple[RateLimitItem, ...]


class RateLimiter:
    """Named limits counted per client address.

    ``hit`` counts a call and refuses it when any window of the limit is full; ``check`` refuses without
    counting (for limits on failures: check first, ``hit`` only when the call failed).
    """

    def __init__(
        self,
        limits: Mapping[str, str],
        *,
        storage_uri: str = "memory://",
        prefix: str = "gridgov",
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self.prefix = prefix
        self._limits = {name: _Limit(text, tuple(parse_many(text))) for name, text in limits.items() if text}
        options: dict[str, Any] = {}
        if storage_uri.startswith(("redis://", "rediss://", "redis+unix://")):
            options["key_prefix"] = prefix
        storage = storage_from_string(storage_uri, **options)
        assert isinstance(storage, Storage), "a synchronous storage (memory:// or redis://)"
        self.storage = storage
        self._strategy = MovingWindowRateLimiter(self.storage)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        limits = {name: str(getattr(settings, f"rate_limits_{name}")) for name in LIMIT_NAMES}
        return cls(
            limits,
            storage_uri=settings.redis_url or "memory://",
            prefix=settings.rate_limit_prefix,
            enabled=settings.rate_limits_enabled,
        )

    def _identifiers(self, name: str, client: str) -> tuple[str, str, str]:
        return (self.prefix, name, client or "unknown")

    def _refuse(self, name: str, item: RateLimitItem, client: str) -> RateLimited:
        stats = self._strategy.get_window_stats(item, *self._identifiers(name, client))
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return RateLimited(
            f"Too many requests ({self._limits[name].text} per client): try again in {retry_after} s",
            retry_after=retry_after,
        )

    def hit(self, name: str, client: str) -> None:
        """Count a call of ``name`` from ``client``; RateLimited when a window is already full."""
        limit = self._limits.get(name)
        if not self.enabled or limit is None:
            return
        for item in limit.items:
            if not self._strategy.hit(item, *self._identifiers(name, client)):
                raise self._refuse(name, item, client)

    def check(self, name: str, client: str) -> None:
        """RateLimited when a window of ``name`` is full for ``client``; counts nothing."""
        limit = self._limits.get(name)
        if not self.enabled or limit is None:
            return
        for item in limit.items:
            if not self._strategy.test(item, *self._identifiers(name, client)):
                raise self._refuse(name, item, client)

    def reset(self) -> None:
        """Forget every count (memory: all; Redis: the keys under this limiter's prefix)."""
        self.storage.reset()


_made = threading.Lock()


def limiter_of(request: Request) -> RateLimiter:
    """The app's limiter, made from the settings on first use."""
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "rate_limiter", None)
    if limiter is None:
        with _made:
            limiter = getattr(state, "rate_limiter", None)
            if limiter is None:
                limiter = RateLimiter.from_settings(get_settings())
                state.rate_limiter = limiter
    return limiter


def too_many(exc: RateLimited) -> JSONResponse:
    """The API's answer to a refused call: 429, the uniform error body and ``Retry-After``."""
    return JSONResponse(
        {"error": {"code": exc.code, "message": exc.message}},
        status_code=429,
        headers={"Retry-After": str(exc.retry_after)},
    )
