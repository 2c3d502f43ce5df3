"""WorkDrive's people (seed 004): the collections of an organization's users, departments,
locations and security groups, declared once for the engine.

An organization's people live in its own workspace (org id = workspace id = the
organization's `id`). A user's department, location and security group are references on
the user: a department's members, a location's members and a group's members are the users
that name it, so counts and member lists are index reads, and moving a user is one write.
"""

from __future__ import annotations

from typing import Any, Final

from ...engine.declarations import ADMINS_ONLY, Collection, Permissions
from ...engine.fields import FieldSpec, declared
from ...errors import InvalidInput

USER: Final = "wd_user"
DEPARTMENT: Final = "wd_department"
LOCATION: Final = "wd_location"
SECURITY_GROUP: Final = "wd_security_group"

#: `availability` on the wire: the seed's requests send the names, its responses the integer.
AVAILABILITY: Final[dict[str, int]] = {"ACTIVE": 1, "AWAY": 2}
AVAILABILITY_TEXT: Final[dict[int, str]] = {1: "Active", 2: "Away"}
VISIBILITY: Final = ("public", "restricted")
STATUSES: Final = ("ACTIVE", "ARCHIVE", "PRE_INVITED", "INVITED", "BLOCKED")
#: The security group whose members are the organization's admins (created with it).
ADMINS_GROUP: Final = "Administrators"
DEFAULT_GROUPS: Final = (ADMINS_GROUP, "Managers", "Members")


def _ref(name: str, target: str) -> FieldSpec:
    return FieldSpec(key=name, name=name, type="reference", reference=target)


def _refs(name: str, target: str) -> FieldSpec:
    item = FieldSpec(key=name, name=name, type="reference", reference=target)
    return FieldSpec(key=name, name=name, type="list", item=item, unique_items=True)


USERS: Final = Collection(
    name=USER,
    fields=(
        declared("email", "email", required=True, unique=True),
        declared("firstName", required=True),
        declared("lastName"),
        declared("userName", indexed=False),
        declared("phone", indexed=False),
        declared("designation"),
        declared("bio", "long_text", indexed=False),
        declared("status", "single_select", options=STATUSES, default="ACTIVE"),
        declared("isDepartmentHead", "boolean", default=False),
        declared("isExpert", "boolean", default=False),
        declared("availability", "integer", default=1),
        _ref("department", DEPARTMENT),
        _ref("location", LOCATION),
        _ref("securityGroup", SECURITY_GROUP),
        _ref("reportsTo", USER),
        _refs("userAdditionalTeams", USER),
        _refs("addAdditionalLocations", LOCATION),
        declared("skill", "list", item=declared("skill"), indexed=False),
        declared("defaultVisibility", "single_select", options=VISIBILITY, default="public"),
        declared("externalUserId"),
        declared("color", indexed=False),
        declared("fileId", "uuid", indexed=False),
        declared("coverFileId", "uuid", indexed=False),
    ),
    events="user",
    public_ids=True,
    permissions=Permissions(create="admin", update="member", delete="admin"),
)

DEPARTMENTS: Final = Collection(
    name=DEPARTMENT,
    fields=(
        declared("name", required=True, unique=True),
        declared("type", default="DEPARTMENT", indexed=False),
        _refs("departmentHeads", USER),
    ),
    events="department",
    public_ids=True,
    permissions=ADMINS_ONLY,
)

LOCATIONS: Final = Collection(
    name=LOCATION,
    fields=(declared("name", required=True, unique=True),),
    events="location",
    public_ids=True,
    permissions=ADMINS_ONLY,
)

SECURITY_GROUPS: Final = Collection(
    name=SECURITY_GROUP,
    fields=(declared("name", required=True, unique=True),),
    events="security_group",
    public_ids=True,
    permissions=ADMINS_ONLY,
)

#: What a user may change on their own record; everything else is an admin's.
SELF_SERVICE: Final = frozenset(
    {"firstName", "lastName", "phone", "bio", "availability", "fileId", "coverFileId", "isExpert"}
)


def availability_in(value: Any, loc: tuple[str | int, ...]) -> int | None:
    """`ACTIVE`/`AWAY` (any case) or their integers 1/2; null stays null."""
    if value is None:
        return None
    if isinstance(value, str) and value.upper() in AVAILABILITY:
        return AVAILABILITY[value.upper()]
    if isinstance(value, int) and not isinstance(value, bool) and value in AVAILABILITY_TEXT:
        return value
    raise InvalidInput(
        "availability must be ACTIVE or AWAY (or 1, 2)",
        loc=loc,
        input=value,
        type="enum",
    )


def full_name(data: dict[str, Any]) -> str | None:
    """A user's name as presence and lock events show it (their token's name)."""
    parts = [data.get("firstName"), data.get("lastName")]
    return " ".join(p for p in parts if isinstance(p, str) and p) or None
