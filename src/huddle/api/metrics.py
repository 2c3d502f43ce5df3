"""`GET /metrics` (Prometheus text format) and the middleware that times HTTP requests.

`/metrics` is unauthenticated, as Prometheus scrapers expect: operators keep it off the public
listener (the proxy in front of the nodes denies `/metrics` from outside, or routes it to an
internal port only). It names no tenant, user or token: route templates, not paths.
"""

from __future__ import annotations

import time
from typing import Final

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..hub.metrics import Metrics
from .deps import Runtime, runtime

METRICS_PATH: Final = "/metrics"
#: The route label of a request no route matched (a 404, a 413 refused before routing).
UNMATCHED: Final = "unmatched"

router = APIRouter(tags=["Operations"])


@router.get(
    METRICS_PATH,
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
    summary="Prometheus Metrics",
)
async def prometheus_metrics(request: Request) -> Response:
    """This node's metrics in Prometheus text format. Unauthenticated: restrict it at the
    proxy (or serve it on an internal listener only)."""
    body = runtime(request).services.node.metrics.render()
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def metrics_of(scope: Scope) -> Metrics | None:
    """The node's metrics for a request's app; None before the lifespan started it."""
    rt: Runtime | None = getattr(scope["app"].state, "runtime", None)
    return rt.services.node.metrics if rt is not None else None


class RequestLatency:
    """Observe each HTTP request in `huddle_http_request_duration_seconds` by method and the
    matched route's path template (`/v1/orgs/{org_id}/...`): raw paths would make a series
    per id. Timed to the response start, so an SSE stream counts the time to open it, not its
    life. `/metrics` itself is not timed; WebSockets are not HTTP requests."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        started: float | None = None

        async def timed_send(message: Message) -> None:
            nonlocal started
            if started is None and message["type"] == "http.response.start":
                started = time.perf_counter()
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            # The router records the matched route in the scope it was handed (this one).
            route: str | None = getattr(scope.get("route"), "path", None)
            metrics = metrics_of(scope)
            if metrics is not None and route != METRICS_PATH:
                elapsed = (started or time.perf_counter()) - start
                metrics.observe_request(scope["method"], route or UNMATCHED, elapsed)
