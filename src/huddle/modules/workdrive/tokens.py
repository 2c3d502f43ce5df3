"""WorkDrive's access tokens (seed 004 "Access Token"): `POST /api/token/generate-access`.

A token is a Huddle credential of its user in the organization's workspace: a random UUID
(the seed's shape), stored only hashed, accepted as `X-API-KEY` or `Authorization: Bearer` on
every Huddle route and stream. A user has one token at a time: generating a new one revokes
the previous at once, also on open WebSockets (closed `4500`) and SSE streams (final event
`credential_revoked`). The token is an admin's while its user is in the `Administrators`
security group.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from ...errors import Forbidden, InvalidInput
from .context import WorkDriveContext, example_answer
from .people import ADMINS_GROUP, SECURITY_GROUPS, USER, USERS, full_name

router = APIRouter(prefix="/api/token", tags=["WorkDrive: Access Token"])


class GenerateIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"userId": "bd06213a-a26b-4cd7-a6b8-cfa154073e1f"}]},
    )

    userId: str


@router.post(
    "/generate-access",
    summary="Generate a new AccessToken",
    responses=example_answer(
        200,
        {
            "userId": "20cf22ed-be0b-40ce-930b-5aae73d2563c",
            "token": "3080826c-1270-45c7-b40f-36ac317556fd",
        },
    ),
)
async def generate_access(ctx: WorkDriveContext, body: GenerateIn) -> dict[str, Any]:
    """Admins generate a token for any user of their organization; a user for themselves.
    Answers `{userId, token}`: the token is shown this once."""
    if not ctx.caller.is_admin and body.userId != ctx.caller.user_id:
        raise Forbidden(
            "Only an admin may generate another user's token",
            details={"required_permission": "tokens:generate"},
        )
    records = ctx.services.records
    record_id = records.ids.in_workspace(ctx.ws).decode(USER, body.userId)
    users = await records.get_many(ctx.ws, USERS, [] if record_id is None else [record_id])
    user = users.get(record_id) if record_id is not None else None
    if user is None:
        raise InvalidInput(
            "Not a user of this organization", loc=("body", "userId"), input=body.userId
        )
    admins = await records.page(
        ctx.ws, SECURITY_GROUPS, offset=0, limit=1, filters={"name": ADMINS_GROUP}
    )
    admin = bool(admins.records) and user.data.get("securityGroup") == admins.records[0].id
    _, token = await ctx.services.apikeys.issue_user_token(
        ctx.ws.org_id,
        workspace_id=ctx.ws.workspace_id,
        user_id=body.userId,
        admin=admin,
        created_by=ctx.caller.user_id,
        name=full_name(user.data),
    )
    return {"userId": body.userId, "token": token}
