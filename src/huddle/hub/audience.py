"""Who reads a workspace's events, for the audience check every transport makes.

An event with an audience (`models.Audience`) reaches a user only when the audience names them
or one of their groups. A `Reader` is one stream's view of its user: the groups it started
with, changed by every `membership.changed` of that user as it passes by in log order, so a
membership change takes effect from that event on, on open connections too. Services read
with no reader and see everything.
"""

from __future__ import annotations

from ..models import MEMBERSHIP_CHANGED, Audience, Event


class Reader:
    __slots__ = ("groups", "user_id")

    def __init__(self, user_id: str, groups: frozenset[str] = frozenset()) -> None:
        self.user_id = user_id
        self.groups = groups

    def sees(self, event: Event) -> bool:
        """Whether the user may receive `event`, after applying it when it changes their
        groups. Call it once per event, in log order."""
        if event.type == MEMBERSHIP_CHANGED and event.data.get("user_id") == self.user_id:
            self.groups = frozenset(str(g) for g in event.data.get("members_of") or ())
        return self.admits(event.audience)

    def admits(self, audience: Audience | None) -> bool:
        """Whether an item with `audience` (None: everyone's) is for this reader."""
        return audience is None or audience.admits(self.user_id, self.groups)

    def copy(self) -> Reader:
        return Reader(self.user_id, self.groups)
