"""The composition root: `create_app(settings)` builds one ASGI app with fresh state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.routing import WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from . import __version__
from .api import (
    apikeys,
    collaboration,
    custom_objects,
    demo,
    health,
    metrics,
    sse,
    sync,
    web,
    ws,
)
from .api.base_v2_errors import BASE_V2_PATHS
from .api.cors import Cors
from .api.declared.module import Module
from .api.declared.routes import router_of
from .api.declared.workdrive import WORKDRIVE
from .api.deps import Runtime
from .api.dialects import Dialects, ErrorDialect
from .api.errors import HUDDLE, install_error_handlers
from .api.limits import BodySizeLimit
from .api.origins import OriginPolicy
from .api.redaction import redact_tokens_in_access_log
from .auth import TokenVerifier, resolve_jwt_secret, resolve_operator_key
from .backends import backend_scheme, open_backend
from .clock import Clock
from .config import Settings
from .hub.node import Node
from .modules.collaborations_v2 import COLLABORATIONS_V2
from .modules.custom_records import CUSTOM_RECORDS
from .modules.workdrive import WORKDRIVE_MODULES, workdrive_routers
from .services import Services
from .tickets import StreamTickets

DESCRIPTION = """\
Realtime collaboration for workspace products: who is here, who views what, who holds the edit
lock, and what just changed. Authenticate with `Authorization: Bearer <JWT or API key>` or
`X-API-KEY: <key>`; `huddle token` prints a dev token.
"""


class HuddleApp(FastAPI):
    """FastAPI, with `/v1/ws` handed its connection before the middleware stack.

    An open WebSocket keeps every frame of its call stack alive for as long as it lasts. The
    ten layers above the route (FastAPI's error, telemetry, body-limit, exit-stack and
    exception middleware, ours, the router) do nothing for it — no body, no timing, no
    handler a close code does not already cover — and held about 6 KiB per idle connection
    (`python -m loadtests.memory_probe`). The route stays in the table for `url_path_for`."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == ws.PATH:
            scope["app"] = self
            await ws.websocket_endpoint(WebSocket(scope, receive, send))
            return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    modules: Sequence[Module] = (),
) -> FastAPI:
    """A Huddle node as an ASGI app. Configuration errors raise `ConfigError` here, before
    anything is served; the backend is opened by the lifespan. `modules` are declared modules
    served beside Huddle's own (an embedding product's, or a test's)."""
    settings = settings or Settings()
    backend_scheme(settings.backend_url)
    secret = resolve_jwt_secret(settings)
    verifier = TokenVerifier(settings, secret)
    tickets = None
    if secret is not None:
        tickets = StreamTickets(
            secret,
            open_ttl=settings.stream_ticket_ttl,
            resume_max=settings.stream_ticket_resume_max,
            leeway=settings.jwt_leeway,
        )
    dev_secret = secret if settings.is_memory and settings.jwt_secret is None else None
    origins = OriginPolicy.of(settings)
    operator_key = resolve_operator_key(settings, dev_secret)
    redact_tokens_in_access_log()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            open_backend(settings, clock) as backend,
            Node(backend, settings, clock).running() as node,
        ):
            served = (*WORKDRIVE_MODULES, *modules)
            private = [module.collection for module in served if module.collection.audience]
            services = Services.for_node(node, private)
            app.state.runtime = Runtime(
                settings, services, verifier, tickets, origins, dev_secret, operator_key
            )
            yield

    app = HuddleApp(
        title="Huddle",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by `web.swagger_ui`, with its assets from this node
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    dialects = Dialects(default=HUDDLE)
    install_error_handlers(app, dialects)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        Cors,
        policy=origins,
        routes=lambda: app.router.routes,
        allow_credentials=settings.cors_allow_credentials,
        max_age=settings.cors_max_age,
    )  # outside the body limit: a refused body still tells the page why
    app.add_middleware(metrics.RequestLatency)  # outermost: times the 413s too
    routers: list[tuple[APIRouter, ErrorDialect]] = [
        (health.router, HUDDLE),
        (collaboration.router, HUDDLE),
        (router_of(COLLABORATIONS_V2), COLLABORATIONS_V2.style.dialect),
        (custom_objects.router, HUDDLE),  # objects and fields (`/stats` before `/{id}`)
        (router_of(CUSTOM_RECORDS), CUSTOM_RECORDS.style.dialect),  # `/{id}/records...`
        (sync.router, HUDDLE),
        (sse.router, HUDDLE),
        (apikeys.router, HUDDLE),
        (metrics.router, HUDDLE),
        (web.pages, HUDDLE),
    ]
    routers += [(router, WORKDRIVE) for router in workdrive_routers()]
    if settings.demo_enabled:
        routers.append((demo.router, HUDDLE))
    routers += [(router_of(module), module.style.dialect) for module in modules]
    for router, dialect in routers:
        app.include_router(router)
        dialects.register(router, dialect)
    dialects.claim(BASE_V2_PATHS, COLLABORATIONS_V2.style.dialect)  # Base clients' URL space
    dialects.claim("/api/", WORKDRIVE)  # seed 004's URL space
    if settings.docs_enabled:
        app.add_api_route("/docs", web.swagger_ui, include_in_schema=False)
    app.router.routes.append(WebSocketRoute(ws.PATH, ws.websocket_endpoint))
    app.router.routes.extend(
        web.static_routes(demo=settings.demo_enabled, docs=settings.docs_enabled)
    )
    return app
