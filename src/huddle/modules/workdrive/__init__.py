"""Seed 004 (WorkDrive API Access): an organization's people and lookups under `/api`.

Each module is a declaration (`api.declared.Module` over an engine `Collection`) served in
WorkDrive's style, in the organization's own workspace; what is not a record operation (the
operator's organization create, tokens, department heads and members, group membership,
supervisors) is a hand-written route beside it, answering in the same dialect.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter

from ...api.declared.module import Module
from ...api.declared.routes import router_of
from . import departments, locations, lookups, organization, security_groups, sso, tokens
from .users import USERS_MODULE, supervisors

WORKDRIVE_MODULES: Final[tuple[Module, ...]] = (
    USERS_MODULE,
    departments.DEPARTMENTS_MODULE,
    locations.LOCATIONS_MODULE,
    security_groups.GROUPS_MODULE,
    *lookups.MODULES,
    *sso.MODULES,
)


def workdrive_routers() -> list[APIRouter]:
    """Every router of seed 004's people, in the order their paths must be matched (a fixed
    path such as `/api/users/supervisors` before `/api/users/{id}`)."""
    return [
        organization.router,
        tokens.router,
        supervisors,
        router_of(USERS_MODULE),
        *departments.ROUTERS,
        *locations.ROUTERS,
        *security_groups.ROUTERS,
        *lookups.ROUTERS,
        *sso.ROUTERS,
    ]
