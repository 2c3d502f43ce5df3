"""API keys of an org: created and revoked by its admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from ..clock import iso_ms
from ..ids import TENANT_ID_PATTERN, USER_ID_PATTERN
from ..models import ApiKeyRecord
from .deps import CurrentPrincipal, CurrentServices, OrgIdPath, org_of
from .error_models import errors

router = APIRouter(prefix="/v1/orgs/{org_id}/api-keys", tags=["API keys"])

_KEY_EXAMPLE: JsonDict = {
    "id": "ak_5d1c0a9e3b7f2a64",
    "org_id": "acme",
    "workspace_id": "ws1",
    "user_id": "crm-bot",
    "admin": False,
    "name": "CRM sync",
    "created_at": "2026-01-05T10:00:00.000Z",
    "created_by": "ana",
}


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"user_id": "crm-bot", "workspace_id": "ws1", "admin": False, "name": "CRM sync"}
            ]
        },
    )

    workspace_id: str = Field(pattern=TENANT_ID_PATTERN, description="The key's workspace")
    user_id: str | None = Field(
        None, pattern=USER_ID_PATTERN, description="The user it acts as; null: a service"
    )
    admin: bool = False
    name: str | None = Field(None, max_length=128)


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_KEY_EXAMPLE]})

    id: str
    org_id: str
    workspace_id: str
    user_id: str | None
    admin: bool
    name: str | None
    created_at: str
    created_by: str

    @classmethod
    def of(cls, record: ApiKeyRecord) -> ApiKeyOut:
        return cls(
            id=record.id,
            org_id=record.org_id,
            workspace_id=record.workspace_id,
            user_id=record.user_id,
            admin=record.admin,
            name=record.name,
            created_at=iso_ms(record.created_at_ms),
            created_by=record.created_by,
        )


class NewApiKeyOut(ApiKeyOut):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_KEY_EXAMPLE, "key": "9f2c" + "0" * 60}]}
    )

    key: str = Field(description="The key itself: shown this once, stored only hashed")


class ApiKeysOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"keys": [_KEY_EXAMPLE]}]})

    keys: list[ApiKeyOut]


@router.post(
    "", response_model=NewApiKeyOut, status_code=201, responses=errors(403, 404), summary="Create"
)
async def create_api_key(
    body: ApiKeyIn, org_id: OrgIdPath, caller: CurrentPrincipal, svc: CurrentServices
) -> NewApiKeyOut:
    """Admins of the org only. Send it as `X-API-KEY: <key>` or `Authorization: Bearer <key>`."""
    org = org_of(caller, org_id)
    record, key = await svc.apikeys.create(
        caller,
        org,
        workspace_id=body.workspace_id,
        user_id=body.user_id,
        admin=body.admin,
        name=body.name,
    )
    return NewApiKeyOut(**ApiKeyOut.of(record).model_dump(), key=key)


@router.get("", response_model=ApiKeysOut, responses=errors(403, 404), summary="List")
async def list_api_keys(
    org_id: OrgIdPath, caller: CurrentPrincipal, svc: CurrentServices
) -> ApiKeysOut:
    records = await svc.apikeys.list(caller, org_of(caller, org_id))
    return ApiKeysOut(keys=[ApiKeyOut.of(r) for r in records])


@router.delete(
    "/{key_id}",
    status_code=204,
    response_class=Response,
    responses=errors(403, 404),
    summary="Revoke",
)
async def revoke_api_key(
    org_id: OrgIdPath,
    key_id: Annotated[str, Path(pattern=r"^ak_[0-9a-f]{16}$", examples=["ak_5d1c0a9e3b7f2a64"])],
    caller: CurrentPrincipal,
    svc: CurrentServices,
) -> Response:
    """Effective at once on every node: keys are looked up on every request."""
    await svc.apikeys.revoke(caller, org_of(caller, org_id), key_id)
    return Response(status_code=204)
