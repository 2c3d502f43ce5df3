"""What a browser can be shown: the JavaScript client, the demo, a start page, and the API
docs with their assets served by the node itself (a CDN is not there on a closed network).

The client (`/client/huddle.js`) is a public file: it answers `Access-Control-Allow-Origin: *`
so a page of any origin may import it as a module; using the node still takes CORS
(`HUDDLE_CORS_ORIGINS`) and a credential.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Final

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEB: Final = Path(str(files("huddle") / "web"))
SWAGGER_ASSETS: Final = Path(str(files("fastapi_offline") / "static"))
DOCS_ASSETS: Final = "/docs/assets"

pages = APIRouter(include_in_schema=False)


@pages.get("/", response_class=HTMLResponse)
async def start_page() -> HTMLResponse:
    return HTMLResponse((WEB / "index.html").read_text(), headers={"Cache-Control": "no-cache"})


@pages.get("/client")
async def client_module() -> RedirectResponse:
    return RedirectResponse("/client/huddle.js")


async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title="Huddle API",
        swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
    )


class PublicAsset:
    """Static files any origin may fetch (`Access-Control-Allow-Origin: *`), revalidated on
    every use (`no-cache`: a node upgrade is seen at once, and an ETag keeps it cheap)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_public(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"access-control-allow-origin", b"*"),
                    (b"cache-control", b"no-cache"),
                ]
            await send(message)

        await self.app(scope, receive, send_public)


def static_routes(*, demo: bool, docs: bool) -> list[BaseRoute]:
    """Mounts for the client, the demo page and the docs assets (after every API route)."""
    # follow_symlink: in a source checkout web/client links to clients/js, the client's home.
    client = StaticFiles(directory=WEB / "client", follow_symlink=True)
    routes: list[BaseRoute] = [Mount("/client", PublicAsset(client), name="client")]
    if demo:
        routes.append(Mount("/demo", StaticFiles(directory=WEB / "demo", html=True), name="demo"))
    if docs:
        routes.append(Mount(DOCS_ASSETS, StaticFiles(directory=SWAGGER_ASSETS), name="docs"))
    return routes
