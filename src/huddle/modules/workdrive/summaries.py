"""Embedded user summaries (`reportsToObj`, a department's `admins`, member lists), computed
from the live state at read time: one read of the users, one of their departments and
locations, one of their presence — for a whole response, never one per user."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ...api.declared.module import Context
from ...store import StoredRecord
from .people import AVAILABILITY_TEXT, DEPARTMENT, DEPARTMENTS, LOCATION, LOCATIONS, USER, USERS


def picture(file_id: Any) -> dict[str, Any]:
    """A media object as the seed shows it (`{}` when none): Huddle stores no media, only the
    id a media service gave."""
    return {"id": file_id} if isinstance(file_id, str) else {}


class Live:
    """What a response shows of users beyond their records: presence and the names of their
    departments and locations, read once for every user it embeds."""

    def __init__(
        self,
        ctx: Context,
        users: Mapping[int, StoredRecord],
        online: Mapping[str, bool],
        departments: Mapping[int, StoredRecord],
        locations: Mapping[int, StoredRecord],
    ) -> None:
        self._ids = ctx.services.records.ids.in_workspace(ctx.ws)
        self.users = users
        self._online = online
        self._departments = departments
        self._locations = locations

    @classmethod
    async def of(
        cls, ctx: Context, user_ids: Iterable[int], known: Iterable[StoredRecord] = ()
    ) -> Live:
        """The live state of `user_ids` (and of the `known` records, already read)."""
        records = ctx.services.records
        have = {r.id: r for r in known}
        wanted = set(user_ids) - have.keys()
        users = {**have, **await records.get_many(ctx.ws, USERS, wanted)}
        ids = records.ids.in_workspace(ctx.ws)
        public = {rid: ids.encode(USER, rid) for rid in users}
        presence = await ctx.services.presence.users(ctx.ws, list(public.values()))
        online = {p.user_id: p.online for p in presence}
        departments = await records.get_many(
            ctx.ws, DEPARTMENTS, _refs(users.values(), "department")
        )
        locations = await records.get_many(ctx.ws, LOCATIONS, _refs(users.values(), "location"))
        return cls(ctx, users, online, departments, locations)

    def public_id(self, user_id: int) -> str:
        return self._ids.encode(USER, user_id)

    def online(self, user_id: int) -> bool:
        return self._online.get(self.public_id(user_id), False)

    def department(self, department_id: Any) -> dict[str, Any]:
        found = self._departments.get(department_id) if isinstance(department_id, int) else None
        if found is None:
            return {}
        return {"id": self._ids.encode(DEPARTMENT, found.id), "name": found.data.get("name")}

    def location(self, location_id: Any) -> dict[str, Any]:
        found = self._locations.get(location_id) if isinstance(location_id, int) else None
        if found is None:
            return {}
        return {"id": self._ids.encode(LOCATION, found.id), "name": found.data.get("name")}

    def extra(self, user: StoredRecord) -> dict[str, Any]:
        """The live values a full user record shows beside its fields."""
        data = user.data
        availability = data.get("availability")
        return {
            "online": self.online(user.id),
            "availabilityStatusText": status_text(availability),
            "picture": picture(data.get("fileId")),
            "cover": picture(data.get("coverFileId")),
            "location": self.location(data.get("location")),
        }

    def summary(self, user_id: Any) -> dict[str, Any] | None:
        """The seed's user summary of `user_id` (None when there is no such user)."""
        user = self.users.get(user_id) if isinstance(user_id, int) else None
        if user is None:
            return None
        data = user.data
        department = self.department(data.get("department"))
        designation = data.get("designation")
        availability = data.get("availability", 1)
        return {
            "id": self.public_id(user.id),
            "firstName": data.get("firstName"),
            "lastName": data.get("lastName"),
            "picture": picture(data.get("fileId")),
            "cover": picture(data.get("coverFileId")),
            "color": data.get("color"),
            "online": self.online(user.id),
            "availability": availability,
            "designation": {"name": designation} if designation else {},
            "department": department,
            "departmentData": department,
            "locationId": self.location(data.get("location")),
            "availabilityStatusText": status_text(availability),
            "phone": data.get("phone"),
            "email": data.get("email"),
            "status": data.get("status"),
            "externalUserId": data.get("externalUserId"),
        }

    def summaries(self, user_ids: Iterable[Any]) -> list[dict[str, Any]]:
        return [s for s in (self.summary(u) for u in user_ids) if s is not None]


def status_text(availability: Any) -> str:
    """`availabilityStatusText`: `Active` or `Away`, following `availability`."""
    return AVAILABILITY_TEXT.get(availability if isinstance(availability, int) else 1, "Active")


def _refs(users: Iterable[StoredRecord], field: str) -> set[int]:
    return {v for u in users if isinstance(v := u.data.get(field), int)}
