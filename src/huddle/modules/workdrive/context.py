"""What WorkDrive's hand-written routes share with its declared ones: a request's `Context`
in the organization's own workspace, and its records written in WorkDrive's style."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated, Any, Final

from fastapi import Depends
from starlette.requests import Request

from ...api.declared.module import Context, Module
from ...api.declared.workdrive import WorkDriveStyle
from ...api.deps import CurrentPrincipal, CurrentServices, organization_workspace
from ...ids import WorkspaceKey
from ...store import StoredRecord

STYLE: Final = WorkDriveStyle()


def workdrive_module(**declared: Any) -> Module:
    """A module of seed 004 (`Module`'s fields): WorkDrive's style, served in the
    organization's own workspace, writes without fencing tokens in the URL (WorkDrive
    clients send none: a lock still refuses another user's write)."""
    defaults: dict[str, Any] = {
        "style": STYLE,
        "workspace": organization_workspace,
        "lock_token": False,
    }
    return Module(**(defaults | declared))


async def workdrive_context(
    request: Request,
    ws: Annotated[WorkspaceKey, Depends(organization_workspace)],
    caller: CurrentPrincipal,
    svc: CurrentServices,
) -> Context:
    return Context(request, ws, caller, svc)


WorkDriveContext = Annotated[Context, Depends(workdrive_context)]


def bound(ctx: Context, module: Module) -> Module:
    """`module` with the public ids of the request's workspace."""
    return replace(module, ids=ctx.services.records.ids.in_workspace(ctx.ws))


def record_id(ctx: Context, module: Module, raw: str) -> int:
    """The store id of a record's public id in the path (404 when it names nothing here)."""
    return module.style.record_id(bound(ctx, module), raw)


def record_out(
    ctx: Context, module: Module, record: StoredRecord, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    return module.style.record_out(bound(ctx, module), record, extra or {})


def example_answer(status: int, example: Any) -> dict[int | str, dict[str, Any]]:
    """A hand-written route's documented answer (`responses=`), with its example."""
    return {status: {"description": "OK", "content": {"application/json": {"example": example}}}}
