"""The rules of Huddle, one service per concept, built once per node."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..engine.audiences import AudienceService
from ..engine.declarations import Collection
from ..engine.entities import EntityAudiences
from ..engine.service import RecordService
from ..hub.node import Node
from .apikeys import ApiKeyService
from .collaborations import CollaborationService
from .custom_objects import CustomObjectService
from .custom_records import CustomRecordService
from .demo import DemoService
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
    audiences: AudienceService
    streams: StreamService
    records: RecordService
    collaborations: CollaborationService
    custom_objects: CustomObjectService
    custom_records: CustomRecordService
    demo: DemoService

    @classmethod
    def for_node(cls, node: Node, private: Iterable[Collection] = ()) -> Services:
        """The services of `node`; `private` are the declared collections whose records
        presence and locks must treat as private (their lock type, their audience)."""
        events = EventService(node)
        audiences = AudienceService(node)
        records = RecordService(node, audiences)
        entities = EntityAudiences(node.backend.records, private, records.ids)
        custom_objects = CustomObjectService(node, records)
        custom_records = CustomRecordService(custom_objects, records)
        return cls(
            node=node,
            events=events,
            presence=PresenceService(node, audiences, entities),
            locks=LockService(node, audiences, entities),
            apikeys=ApiKeyService(node),
            audiences=audiences,
            streams=StreamService(node, events, audiences),
            records=records,
            collaborations=CollaborationService(records),
            custom_objects=custom_objects,
            custom_records=custom_records,
            demo=DemoService(custom_objects, custom_records),
        )
