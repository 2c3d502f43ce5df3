"""The `/demo` workspace: a custom object of cards to view, lock and edit, made on first use.

The demo runs on what every client uses (presence, locks, the event log, custom objects); this
only makes sure the object and a few cards exist, as an admin of the workspace would.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Final

from ..auth import ADMIN, MEMBER, Principal
from ..errors import AlreadyExists, NotFound
from ..ids import WorkspaceKey
from .custom_objects import CustomObjectService
from .custom_records import CustomRecordService

OBJECT: Final = "card"
_DEFINITION: Final[dict[str, Any]] = {
    "api_name": OBJECT,
    "label": "Card",
    "plural_label": "Cards",
    "description": "Cards of the Huddle demo: view one, take its lock, edit it.",
    "fields": [
        {"api_name": "title", "label": "Title", "type": "text", "required": True},
        {"api_name": "body", "label": "Notes", "type": "long_text"},
        {
            "api_name": "status",
            "label": "Status",
            "type": "single_select",
            "options": ["todo", "doing", "done"],
            "default": "todo",
        },
    ],
}
_CARDS: Final = (
    {"title": "Renew the Acme contract", "body": "Call Ana before Friday.", "status": "doing"},
    {"title": "Quarterly report", "body": "Figures from finance.", "status": "todo"},
    {"title": "Onboard Ben", "body": "Laptop, accounts, a tour.", "status": "done"},
)
_NOT_A_USER_CHAR: Final = re.compile(r"[^a-z0-9]+")


def demo_user_id(name: str) -> str:
    """`Ana María` -> `demo-ana-mar-a`: a user id of the demo for a display name."""
    slug = _NOT_A_USER_CHAR.sub("-", name.lower()).strip("-")[:40]
    return f"demo-{slug or 'guest'}"


class DemoService:
    def __init__(self, objects: CustomObjectService, records: CustomRecordService) -> None:
        self._objects = objects
        self._records = records
        self._ready: set[WorkspaceKey] = set()
        self._lock = asyncio.Lock()

    async def prepare(self, ws: WorkspaceKey) -> None:
        """Define the card object and its first cards in `ws`, unless they exist."""
        if ws in self._ready:
            return
        async with self._lock:
            if ws in self._ready:
                return
            admin = Principal(
                kind="service",
                user_id="huddle-demo",
                org_id=ws.org_id,
                workspaces=frozenset({ws.workspace_id}),
                default_workspace=ws.workspace_id,
                roles=frozenset({ADMIN, MEMBER}),
                name="Huddle demo",
            )
            try:
                await self._objects.get_object(ws, OBJECT)
            except NotFound:
                try:
                    await self._objects.create_object(ws, admin, _DEFINITION)
                except AlreadyExists:
                    pass  # another node made it meanwhile
                else:
                    for values in _CARDS:
                        await self._records.create_record(ws, admin, OBJECT, values)
            self._ready.add(ws)
