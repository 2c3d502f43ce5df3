"""The rules of Huddle, one service per concept, built once per node."""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.audiences import AudienceService
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
    def for_node(cls, node: Node) -> Services:
        events = EventService(node)
        audiences = AudienceService(node)
        records = RecordService(node, audiences)
        custom_objects = CustomObjectService(node, records)
        custom_records = CustomRecordService(custom_objects, records)
        return cls(
            node=node,
            events=events,
            presence=PresenceService(node),
            locks=LockService(node),
            apikeys=ApiKeyService(node),
            audiences=audiences,
            streams=StreamService(node, events, audiences),
            records=records,
            collaborations=CollaborationService(records),
            custom_objects=custom_objects,
            custom_records=custom_records,
            demo=DemoService(custom_objects, custom_records),
        )
