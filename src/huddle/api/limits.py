"""Request body size limit, enforced before a handler reads more than the limit."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import PayloadTooLarge
from .errors import error_response


class BodySizeLimit:
    """413 in the envelope for a body over `max_bytes`, by header or by counting chunks."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLarge(
            f"Request body exceeds {self.max_bytes} bytes", details={"limit": self.max_bytes}
        )
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await error_response(too_large, Request(scope))(scope, receive, send)
                return
        received = 0
        exceeded = started = False

        async def counting_receive() -> Message:
            # Past the limit the app is told the client left, so it stops reading; raising
            # here instead would reach FastAPI's body parser, which answers 400 for any error.
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the 413 below replaces whatever the app answers to a cut-off body
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await error_response(too_large, Request(scope))(scope, receive, send)
