"""The append-only, tamper-evident audit trail.

Write with ``record`` (and let ``install_write_auditing`` log every ORM write); check with ``verify``;
read with ``list_entries``. Who acts comes from ``gridgov.audit.context``. The web routers live in
``gridgov.audit.api`` and ``gridgov.audit.pages`` and are not imported here, so the CLI and services
can use the audit trail without loading the web stack.
"""

from __future__ import annotations

from gridgov.audit.context import ActorInfo, actor_context, cli_actor, current_actor
from gridgov.audit.models import AuditLogIsAppendOnly
from gridgov.audit.schemas import AuditEntry, AuditHeadInfo, AuditPage, BrokenEntry, VerifyResult
from gridgov.audit.service import (
    head_info,
    install_write_auditing,
    list_entries,
    record,
    uninstall_write_auditing,
    verify,
)

__all__ = [
    "ActorInfo",
    "AuditEntry",
    "AuditHeadInfo",
    "AuditLogIsAppendOnly",
    "AuditPage",
    "BrokenEntry",
    "VerifyResult",
    "actor_context",
    "cli_actor",
    "current_actor",
    "head_info",
    "install_write_auditing",
    "list_entries",
    "record",
    "uninstall_write_auditing",
    "verify",
]
