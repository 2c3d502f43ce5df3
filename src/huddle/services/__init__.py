"""The rules of Huddle, one service per concept, built once per node."""

from __future__ import annotations

from dataclasses import dataclass

from ..hub.node import Node
from .apikeys import ApiKeyService
from .events import EventService
from .locks import LockService
from .presence import PresenceService


@dataclass(frozen=True, slots=True)
class Services:
    node: Node
    events: EventService
    presence: PresenceService
    locks: LockService
    apikeys: ApiKeyService

    @classmethod
    def for_node(cls, node: Node) -> Services:
        return cls(
            node=node,
            events=EventService(node),
            presence=PresenceService(node),
            locks=LockService(node),
            apikeys=ApiKeyService(node),
        )
