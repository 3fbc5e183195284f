"""Secrets never reach the access log: query parameters such as an Open311 ``api_key`` are blanked in the
URLs uvicorn logs.

`SecretQueryFilter` is a `logging.Filter` for the ``uvicorn.access`` logger; `uvicorn_log_config` is
uvicorn's own logging configuration with the filter on its access handler (``gridgov serve`` passes it, so
every server process, with ``--workers`` or ``--reload``, installs it), and `install` adds it to a running
process's logger.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: Query parameters whose values are secrets (compared without case).
SECRET_PARAMS: Final = frozenset({"api_key", "token", "access_token", "access_code", "password", "key"})
REDACTED: Final = "***"


def redact_url(target: str) -> str:
    """``target`` (a path with a query string, or a full URL) with the secret parameters' values blanked."""
    if "?" not in target:
        return target
    parts = urlsplit(target)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(name.lower() in SECRET_PARAMS for name, _ in pairs):
        return target
    query = urlencode(
        [(name, REDACTED if name.lower() in SECRET_PARAMS else value) for name, value in pairs], safe="*"
    )
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class SecretQueryFilter(logging.Filter):
    """Blanks secret query parameters in every string argument of an access-log record (uvicorn logs
    ``client, method, path?query, http version, status``) and in a message logged pre-formatted."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str) and not record.args:
            record.msg = " ".join(redact_url(word) for word in record.msg.split(" "))
        return True


def install(logger_name: str = "uvicorn.access") -> None:
    """Add the filter to ``logger_name`` in this process (once)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, SecretQueryFilter) for f in logger.filters):
        logger.addFilter(SecretQueryFilter())


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration with `SecretQueryFilter` on the access log."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": f"{__name__}.SecretQueryFilter"}
    config["loggers"]["uvicorn.access"].setdefault("filters", []).append("redact_secrets")
    return config
