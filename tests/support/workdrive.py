"""Helpers for tests of seed 004 (WorkDrive): organizations, their users and tokens, the
seed's response examples several routes share, WorkDrive's error envelope, and comparing a
response with the seed's own example by field names and JSON types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

OPERATOR_KEY = "op_test-operator-key-0123456789abcdef"

# --- the seed's response examples that several routes share (compared by `assert_shape`) ------

#: A user as the seed summarizes one: department and location members, an SSO's creator.
SUMMARY: Final[dict[str, Any]] = {
    "id": "string",
    "firstName": "string",
    "lastName": "string",
    "picture": {},
    "cover": {},
    "color": "string",
    "online": True,
    "availability": 1,
    "designation": {},
    "department": {},
    "availabilityStatusText": "string",
    "phone": "string",
    "email": "user@example.com",
    "status": "user@example.com",
}
#: The user list's `reportsToObj`: the same summary, with `departmentData` as well.
REPORTS_TO: Final[dict[str, Any]] = {**SUMMARY, "departmentData": {}}
#: A list's `meta`.
META: Final[dict[str, Any]] = {
    "perPage": 0,
    "totalPages": 0,
    "totalResults": 0,
    "curPage": 0,
    "nextPage": 0,
}
#: `nextPage` is null on a list's last page (the seed's example shows a number).
LIST_NULLABLE: Final = frozenset({"nextPage"})

# --- organizations, users, tokens -------------------------------------------------------------


@dataclass(frozen=True)
class Org:
    """A WorkDrive organization a test created, and its first admin."""

    id: str
    admin_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return api_key(self.token)

    @property
    def stream(self) -> str:
        """The organization's Huddle workspace."""
        return f"/v1/orgs/{self.id}/workspaces/{self.id}"


async def create_org(
    client: httpx.AsyncClient,
    name: str = "Stilla",
    email: str = "abc@xyz.com",
    operator_key: str = OPERATOR_KEY,
) -> Org:
    body = {
        "name": name,
        "admin": {"firstName": "john", "lastName": "smith", "email": email},
        "auth": {"method": "internal"},
    }
    answer = await client.post("/api/organization", json=body, headers=api_key(operator_key))
    made = ok(answer, 201)
    return Org(made["id"], made["createdBy"], made["accessToken"])


def api_key(token: str) -> dict[str, str]:
    """The headers that send a WorkDrive access token."""
    return {"X-API-KEY": token}


async def created(
    client: httpx.AsyncClient, headers: Mapping[str, str], path: str, body: Any
) -> dict[str, Any]:
    """`POST path` with `body`, which must answer 201: the record made."""
    made: dict[str, Any] = ok(await client.post(path, json=body, headers=headers), 201)
    return made


async def add_user(
    client: httpx.AsyncClient, org: Org, email: str, **values: Any
) -> dict[str, Any]:
    body = {"email": email, "firstName": email.split("@")[0], **values}
    return await created(client, org.headers, "/api/users/add", body)


async def token_of(client: httpx.AsyncClient, org: Org, user_id: str) -> str:
    answer = await client.post(
        "/api/token/generate-access", json={"userId": user_id}, headers=org.headers
    )
    token: str = ok(answer)["token"]
    return token


async def add_member(
    client: httpx.AsyncClient, org: Org, email: str, **values: Any
) -> tuple[str, dict[str, str]]:
    """A new user of `org` in no security group (so no admin): its id, and headers that send
    its access token."""
    user_id: str = (await add_user(client, org, email, **values))["id"]
    return user_id, api_key(await token_of(client, org, user_id))


# --- answers ------------------------------------------------------------------------------------


def ok(answer: httpx.Response, status: int = 200) -> Any:
    """The body of an answer that must have `status`."""
    assert answer.status_code == status, answer.text
    return answer.json()


def error(answer: httpx.Response, status: int) -> dict[str, Any]:
    """The body of a refusal with `status`, in WorkDrive's envelope."""
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"statusCode", "message", "error", "errors"}, body
    assert body["statusCode"] == status
    return body


def fields_in_order(body: dict[str, Any]) -> list[str]:
    """The fields a refusal's `errors` name, in its order."""
    return [e["field"] for e in body["errors"]]


def fields_of(body: dict[str, Any]) -> set[str]:
    """The fields a refusal's `errors` name."""
    return set(fields_in_order(body))


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def assert_shape(
    answer: Any, example: Any, *, nullable: frozenset[str] = frozenset(), path: str = "$"
) -> None:
    """Every field of the seed's `example` is in `answer`, with the same JSON type (numbers
    are one type; a field named in `nullable`, by its last name, may be null; an example's
    `{}` stands for any object). Arrays compare their first items."""
    expected, found = json_type(example), json_type(answer)
    name = path.rsplit(".", 1)[-1]
    if found == "null" and (name in nullable or expected == "null"):
        return
    assert found == expected, f"{path}: the seed shows {expected}, Huddle answered {found}"
    if expected == "object":
        for key, value in example.items():
            assert key in answer, f"{path}.{key}: missing (the seed shows it)"
            assert_shape(answer[key], value, nullable=nullable, path=f"{path}.{key}")
    elif expected == "array" and example and answer:
        assert_shape(answer[0], example[0], nullable=nullable, path=f"{path}[0]")
