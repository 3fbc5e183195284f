"""Roles and the named permissions granted to them. Names are code; the UI shows translated labels."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    district_operator = "district_operator"  # 区指挥中心
    street_operator = "street_operator"  # 街道中心
    community_staff = "community_staff"  # 社区工作站
    grid_worker = "grid_worker"  # 网格员
    department_handler = "department_handler"  # 职能部门
    contractor = "contractor"  # 第三方服务机构
    auditor = "auditor"  # 审计


class Permission(StrEnum):
    areas_read = "areas.read"  # the area hierarchy and polygons within one's scope
    users_read = "users.read"  # accounts within one's scope (masked personal data)
    users_manage = "users.manage"  # create, edit, disable accounts; issue tokens for others
    personal_reveal = "personal.reveal"  # unmask an ID or phone number, with a typed reason (audited)
    data_export = "data.export"  # download lists; masked unless personal.reveal is held too
    audit_read = "audit.read"  # read the audit trail
    tokens_own = "tokens.own"  # create and revoke one's own API tokens
    # create, edit, retire standard addresses and their names, inside one's own area scope only
    address_manage = "address.manage"
    # Events (issue 5), always within one's area scope:
    events_report = "events.report"  # file an event (the people who work in the field or at a desk)
    events_read = "events.read"  # see events, their timelines and whistles
    # the desk (受理/派遣台): accept/cancel, dispatch, escalate, decide extensions, supervise, close,
    # evaluate, reopen, blow the whistle and rate the summoned departments
    events_desk = "events.desk"
    # the handling unit: sign, return, handle, ask for more time; a summoned department signs for the
    # whistle, contacts the street and reports in (a department handler only for its own unit's events)
    events_handle = "events.handle"
    events_verify = "events.verify"  # check on site that it is done (核查), or send it back for rework
    events_configure = "events.configure"  # revise event types (a new version; filed events keep theirs)
    # Block data (issue 6), always within one's area scope:
    registry_read = "registry.read"  # search people (masked), dwellings, rentals, entities; area statistics
    registry_care = "registry.care"  # see key-person care tags (重点人员): only the roles that visit them
    tasks_read = "tasks.read"  # see verification tasks and their answers
    tasks_work = "tasks.work"  # answer a verification task (confirmed / corrected / not found)
    # register sources and their mapping specs, import files, download and replay the quarantine, decide
    # doubtful identity merges
    ingest_manage = "ingest.manage"


_EVERYONE = frozenset({Permission.areas_read, Permission.tokens_own})
# Events: every operator runs the desk, handles (a community workstation or street centre can be the
# handling unit) and verifies; grid workers report and verify on site; departments report and handle.
# Contractors see no events (they are not part of the 1+8+N loop); auditors read them to check handling.
_EVENT_OPERATOR = frozenset(
    {
        Permission.events_report,
        Permission.events_read,
        Permission.events_desk,
        Permission.events_handle,
        Permission.events_verify,
    }
)

# Block data: everyone who governs an area reads its registry and tasks; the people who visit key persons
# (community staff and grid workers, and the street and district centres above them) see care tags.
_REGISTRY_READER = frozenset({Permission.registry_read, Permission.tasks_read})
_CARE = frozenset({Permission.registry_care})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.admin: frozenset(Permission),
    Role.district_operator: _EVERYONE
    | _EVENT_OPERATOR
    | {
        Permission.users_read,
        Permission.personal_reveal,
        Permission.data_export,
        Permission.address_manage,
        Permission.events_configure,
        Permission.ingest_manage,
    }
    | _REGISTRY_READER
    | _CARE,
    # A street centre keeps the addresses of its own street (the scope rules refuse any outside it);
    # communities and grid workers report address problems, they do not edit the library.
    Role.street_operator: _EVERYONE
    | _EVENT_OPERATOR
    | {Permission.users_read, Permission.personal_reveal, Permission.data_export, Permission.address_manage}
    | _REGISTRY_READER
    | _CARE,
    Role.community_staff: _EVERYONE
    | _EVENT_OPERATOR
    | {Permission.users_read, Permission.personal_reveal, Permission.data_export, Permission.tasks_work}
    | _REGISTRY_READER
    | _CARE,
    Role.grid_worker: _EVERYONE
    | {Permission.events_report, Permission.events_read, Permission.events_verify, Permission.tasks_work}
    | _REGISTRY_READER
    | _CARE,
    Role.department_handler: _EVERYONE
    | {Permission.events_report, Permission.events_read, Permission.events_handle},
    Role.contractor: _EVERYONE,
    Role.auditor: _EVERYONE
    | {Permission.audit_read, Permission.users_read, Permission.data_export, Permission.events_read}
    | _REGISTRY_READER,
}


def permissions_of(role: Role) -> frozenset[Permission]:
    return ROLE_PERMISSIONS[role]
