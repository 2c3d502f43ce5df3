"""Liveness and readiness, for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from ..errors import ShuttingDown
from .deps import CurrentServices
from .error_models import errors

router = APIRouter(tags=["Health"])


class HealthOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})
    status: str


class ReadyOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "ready", "backend": "redis://10.0.0.5:6379/0", "node": "n1"}]
        }
    )
    status: str
    backend: str
    node: str


@router.get("/healthz", response_model=HealthOut, summary="Process is up")
async def healthz() -> HealthOut:
    return HealthOut(status="ok")


@router.get("/readyz", response_model=ReadyOut, responses=errors(), summary="Backend reachable")
async def readyz(svc: CurrentServices) -> ReadyOut:
    """200 when the backend answers and lets the node do all it must (its Redis user may load
    scripts, use keys under the prefix, publish and subscribe: checked every 30 s); 503 in
    the error envelope naming what fails, or while the node drains (it shuts down)."""
    node = svc.node
    if node.sessions.draining:
        raise ShuttingDown("this node is shutting down", details={"node": node.node_id})
    await node.ready()
    return ReadyOut(status="ready", backend=node.backend.url, node=node.node_id)
