"""Helpers for tests of seed 004 (WorkDrive): organizations, their tokens, and comparing a
response with the seed's own example by field names and JSON types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

OPERATOR_KEY = "op_test-operator-key-0123456789abcdef"


@dataclass(frozen=True)
class Org:
    """A WorkDrive organization a test created, and its first admin."""

    id: str
    admin_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-KEY": self.token}

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
    answer = await client.post("/api/organization", json=body, headers={"X-API-KEY": operator_key})
    assert answer.status_code == 201, answer.text
    made = answer.json()
    return Org(made["id"], made["createdBy"], made["accessToken"])


async def add_user(
    client: httpx.AsyncClient, org: Org, email: str, **values: Any
) -> dict[str, Any]:
    body = {"email": email, "firstName": email.split("@")[0], **values}
    answer = await client.post("/api/users/add", json=body, headers=org.headers)
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


async def token_of(client: httpx.AsyncClient, org: Org, user_id: str) -> str:
    answer = await client.post(
        "/api/token/generate-access", json={"userId": user_id}, headers=org.headers
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    return token


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
