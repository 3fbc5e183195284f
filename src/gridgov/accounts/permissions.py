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


_EVERYONE = frozenset({Permission.areas_read, Permission.tokens_own})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.admin: frozenset(Permission),
    Role.district_operator: _EVERYONE
    | {Permission.users_read, Permission.personal_reveal, Permission.data_export, Permission.address_manage},
    # A street centre keeps the addresses of its own street (the scope rules refuse any outside it);
    # communities and grid workers report address problems, they do not edit the library.
    Role.street_operator: _EVERYONE
    | {Permission.users_read, Permission.personal_reveal, Permission.data_export, Permission.address_manage},
    Role.community_staff: _EVERYONE
    | {Permission.users_read, Permission.personal_reveal, Permission.data_export},
    Role.grid_worker: _EVERYONE,
    Role.department_handler: _EVERYONE,
    Role.contractor: _EVERYONE,
    Role.auditor: _EVERYONE | {Permission.audit_read, Permission.users_read, Permission.data_export},
}


def permissions_of(role: Role) -> frozenset[Permission]:
    return ROLE_PERMISSIONS[role]
