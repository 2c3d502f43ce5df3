"""The rules of Huddle, one service per concept, built once per node."""

from __future__ import annotations

from dataclasses import dataclass

from ..hub.node import Node
from .apikeys import ApiKeyService
from .events import EventService
from .locks import LockService
from .presence import PresenceService
from .streams import StreamService


@dataclass(frozen=True, slots=True)
class Services:
    node: Node
    events: EventService
    presence: PresenceService
    locks: LockService
    apikeys: ApiKeyService
    streams: StreamService

    @classmethod
    def for_node(cls, node: Node) -> Services:
        events = EventService(node)
        return cls(
            node=node,
            events=events,
            presence=PresenceService(node),
            locks=LockService(node),
            apikeys=ApiKeyService(node),
            streams=StreamService(node, events),
        )
