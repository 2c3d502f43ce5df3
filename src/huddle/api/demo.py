"""`/demo`: a page that shows Huddle live, and, on a development node, tokens for it.

A node on `memory://` with its generated dev secret mints demo tokens for any name, so two
windows become two users with one click. A node with a configured secret, a public key or a
shared backend mints none: whoever runs it for real issues tokens its own way, and the page
then asks for one.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ..auth import issue_token
from ..errors import NotFound
from ..ids import OrgId, WorkspaceId, WorkspaceKey
from ..services.demo import OBJECT, demo_user_id
from .deps import runtime
from .error_models import errors

ORG: Final = "acme"
WORKSPACE: Final = "ws1"
TOKEN_TTL: Final = 3600.0

router = APIRouter(prefix="/demo", tags=["Demo"])


class DemoConfigOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"mints_tokens": True, "org_id": "acme", "workspace_id": "ws1", "object": "card"}
            ]
        }
    )
    mints_tokens: bool = Field(description="True when POST /demo/token mints tokens here")
    org_id: str
    workspace_id: str
    object: str = Field(description="The custom object whose records the demo edits")


class DemoTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "Ana"}]})
    name: str = Field(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f\x7f]+$")


class DemoTokenOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.sig",
                    "user_id": "demo-ana",
                    "name": "Ana",
                    "org_id": "acme",
                    "workspace_id": "ws1",
                    "expires_in": 3600,
                }
            ]
        }
    )
    token: str
    user_id: str
    name: str
    org_id: str
    workspace_id: str
    expires_in: int


@router.get("/config", response_model=DemoConfigOut, summary="Demo Configuration")
async def demo_config(request: Request) -> DemoConfigOut:
    rt = runtime(request)
    return DemoConfigOut(
        mints_tokens=rt.dev_secret is not None,
        org_id=ORG,
        workspace_id=WORKSPACE,
        object=OBJECT,
    )


@router.post(
    "/token", response_model=DemoTokenOut, responses=errors(404), summary="Mint Demo Token"
)
async def mint_demo_token(body: DemoTokenIn, request: Request) -> DemoTokenOut:
    """A member token of the demo workspace for `name`, valid one hour; only on a memory://
    node running on its generated dev secret (404 elsewhere)."""
    rt = runtime(request)
    if rt.dev_secret is None:
        raise NotFound(
            "Demo tokens are minted only by a memory:// node on its generated dev secret",
            details={"resource_type": "demo_token"},
        )
    await rt.services.demo.prepare(WorkspaceKey(OrgId(ORG), WorkspaceId(WORKSPACE)))
    name = body.name.strip() or "Guest"
    user_id = demo_user_id(name)
    token = issue_token(
        rt.dev_secret,
        user_id=user_id,
        org_id=ORG,
        workspace_id=WORKSPACE,
        name=name,
        ttl=TOKEN_TTL,
    )
    return DemoTokenOut(
        token=token,
        user_id=user_id,
        name=name,
        org_id=ORG,
        workspace_id=WORKSPACE,
        expires_in=int(TOKEN_TTL),
    )
