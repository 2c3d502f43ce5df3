"""Seed 001 as an existing Base client meets it: the seed's own curl commands, run by curl
against a real `huddle serve` node with a Huddle API key as $ACCESS_TOKEN, and every answer
held against the seed's example response: status line, Content-Type, keys, JSON types."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.nodes import SECRET, HuddleNode, NodeFactory, run_huddle
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.xdist_group("e2e")

# The seed's curl commands verbatim, but for the host: https://api.getbase.com is $HUDDLE.
LIST_DEALS = r"""curl -v -X GET $HUDDLE/v2/collaborations?resource_type=deals \
-H "Accept: application/json" \
-H "Authorization: Bearer $ACCESS_TOKEN"
"""
CREATE = r"""curl -v -X POST $HUDDLE/v2/collaborations \
-H "Accept: application/json" \
-H "Content-Type: application/json" \
-H "Authorization: Bearer $ACCESS_TOKEN" \
-d '{
"data": {
"resource_type": "lead",
"resource_id": 1,
"collaborator_id": 2
},
"meta": {
"type": "collaboration"
}
}'
"""
GET_ONE = r"""curl -v -X GET $HUDDLE/v2/collaborations/1 \
-H "Accept: application/json" \
-H "Authorization: Bearer $ACCESS_TOKEN"
"""
DELETE = r"""curl -v -X DELETE $HUDDLE/v2/collaborations/1 \
-H "Authorization: Bearer $ACCESS_TOKEN"
"""

# The seed's example responses verbatim.
SEED_COLLECTION: dict[str, Any] = json.loads("""{
"items": [
{
"data": {
"id": 1,
"creator_id": 1,
"resource_type": "lead",
"resource_id": 1,
"collaborator_id": 2,
"created_at": "2014-08-27T16:32:56Z",
"updated_at": "2014-08-27T17:32:56Z"
},
"meta": {
"type": "collaboration"
}
}
],
"meta": {
"type": "collection",
"count": 1,
"links": {
"self": "http://api.getbase.com/v2/collaborations.json"
}
}
}""")
SEED_ONE: dict[str, Any] = json.loads("""{
"data": {
"id": 1,
"creator_id": 1,
"resource_type": "lead",
"resource_id": 1,
"collaborator_id": 2,
"created_at": "2014-08-27T16:32:56Z",
"updated_at": "2014-08-27T17:32:56Z"
},
"meta": {
"type": "collaboration"
}
}""")

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
JSON_TYPE = re.compile(r"^application/json(; ?charset=utf-8)?$", re.IGNORECASE)
HEX64 = re.compile(r"^[0-9a-f]{64}$")
SHELL = "/bin/sh"
#: Objects where Huddle may answer more keys than the seed shows (paging links).
OPEN_OBJECTS = frozenset({"$.meta.links"})


@dataclass(frozen=True)
class CurlAnswer:
    status_line: str
    headers: dict[str, str]
    body: bytes

    @property
    def status(self) -> int:
        return int(self.status_line.split()[1])

    def json(self) -> Any:
        return json.loads(self.body)


class BaseClient:
    """Runs the seed's curl commands in a shell, as a Base integrator would, with $HUDDLE
    and $ACCESS_TOKEN set; the answer is what curl printed with `-i` (headers, then body)."""

    def __init__(self, node: HuddleNode, token: str, workdir: Path) -> None:
        self.workdir = workdir
        # PATH only: no proxy variables, so 127.0.0.1 is reached directly.
        self.env = {"PATH": os.environ["PATH"], "HUDDLE": node.url, "ACCESS_TOKEN": token}

    async def run(self, command: str) -> CurlAnswer:
        proc = await asyncio.create_subprocess_exec(
            SHELL, "-c", command.rstrip() + " -sS -i", cwd=self.workdir, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(20):
            stdout, stderr = await proc.communicate()
        assert proc.returncode == 0, f"curl failed ({proc.returncode}):\n{stderr.decode()}"
        rest = stdout
        while True:  # the final response's head: a `100 Continue` would come first
            head, _, rest = rest.partition(b"\r\n\r\n")
            status_line, *lines = head.decode("latin-1").split("\r\n")
            if not re.match(r"HTTP/\S+ 1\d\d ", status_line):
                break
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return CurlAnswer(status_line, headers, rest)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: this client test runs the seed's curl commands")
    return found


def assert_same_shape(actual: Any, example: Any, where: str = "$") -> None:
    """`actual` has the example's keys (exactly, but in OPEN_OBJECTS) and JSON types at
    every level; each list item has the shape of the example's first item."""
    assert type(actual) is type(example), (
        f"{where}: {type(actual).__name__} {actual!r} where the seed has "
        f"{type(example).__name__} {example!r}"
    )
    if isinstance(example, dict):
        if where in OPEN_OBJECTS:
            assert set(example) <= set(actual), f"{where}: keys {sorted(actual)}"
        else:
            assert set(actual) == set(example), f"{where}: keys {sorted(actual)}"
        for key, value in example.items():
            assert_same_shape(actual[key], value, f"{where}.{key}")
    elif isinstance(example, list):
        for index, item in enumerate(actual):
            assert_same_shape(item, example[0], f"{where}[{index}]")


def assert_json_answer(answer: CurlAnswer, example: dict[str, Any]) -> Any:
    """A `200 OK` JSON answer with the seed example's shape and Base's timestamps."""
    assert answer.status_line == "HTTP/1.1 200 OK", (answer.status_line, answer.body)
    assert JSON_TYPE.fullmatch(answer.headers["content-type"]), answer.headers
    found = answer.json()
    assert_same_shape(found, example)
    collaborations = [item["data"] for item in found["items"]] if "items" in found else []
    if "data" in found:
        collaborations.append(found["data"])
    for data in collaborations:
        assert TIMESTAMP.fullmatch(data["created_at"]), data
        assert TIMESTAMP.fullmatch(data["updated_at"]), data
    return found


def assert_not_found(answer: CurlAnswer) -> None:
    """Base's error envelope for a collaboration that does not exist."""
    assert answer.status_line == "HTTP/1.1 404 Not Found", (answer.status_line, answer.body)
    assert JSON_TYPE.fullmatch(answer.headers["content-type"]), answer.headers
    found = answer.json()
    assert found["meta"]["type"] == "errors"
    assert found["meta"]["http_status"] == "404 Not Found"
    assert found["meta"]["logref"] == answer.headers["x-request-id"]
    [entry] = found["errors"]
    assert entry["meta"] == {"type": "error"}
    assert entry["error"]["code"] == "not_found"
    assert entry["error"]["resource"] == "collaboration"


async def test_the_seeds_curl_examples_work_against_a_node(
    nodes: NodeFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    """List, create, get and delete exactly as seed 001's curl examples do them, with a key
    from `huddle apikey create` as the Bearer token: each answer has the seed's shape."""
    _tool("curl")
    node = await nodes.start(redis_server.url())
    made = await run_huddle(
        "apikey", "create", "--org", "acme", "--workspace", "ws1", "--user", "1",
        "--name", "base-client", "--node", node.url,
        cwd=tmp_path, settings={"HUDDLE_JWT_SECRET": SECRET},
    )  # fmt: skip
    assert made.returncode == 0, made
    token = made.stdout.strip()
    assert HEX64.fullmatch(token), made
    workdir = tmp_path / "client"
    workdir.mkdir()
    base = BaseClient(node, token, workdir)
    deals_url = f"{node.url}/v2/collaborations?resource_type=deals"

    empty = assert_json_answer(await base.run(LIST_DEALS), SEED_COLLECTION)
    assert empty["items"] == []
    assert empty["meta"]["type"] == "collection" and empty["meta"]["count"] == 0
    assert empty["meta"]["links"]["self"] == deals_url

    created = assert_json_answer(await base.run(CREATE), SEED_ONE)
    assert created["meta"] == {"type": "collaboration"}
    assert created["data"]["created_at"] == created["data"]["updated_at"]
    timestamps = {key: created["data"][key] for key in ("created_at", "updated_at")}
    assert created["data"] == SEED_ONE["data"] | timestamps  # id 1, by user 1: the seed's

    deal = assert_json_answer(
        await base.run(CREATE.replace('"resource_type": "lead"', '"resource_type": "deal"')),
        SEED_ONE,
    )
    assert deal["data"]["id"] == 2 and deal["data"]["resource_type"] == "deal"

    deals = assert_json_answer(await base.run(LIST_DEALS), SEED_COLLECTION)
    assert deals["items"] == [deal]
    assert [item["meta"]["type"] for item in deals["items"]] == ["collaboration"]
    assert deals["meta"]["type"] == "collection" and deals["meta"]["count"] == 1
    assert deals["meta"]["links"]["self"] == deals_url

    one = assert_json_answer(await base.run(GET_ONE), SEED_ONE)
    assert one == created

    deleted = await base.run(DELETE)
    assert deleted.status_line == "HTTP/1.1 204 No Content", (deleted.status_line, deleted.body)
    assert deleted.body == b""

    assert_not_found(await base.run(GET_ONE))
    assert_not_found(await base.run(DELETE))
    remaining = assert_json_answer(await base.run(LIST_DEALS), SEED_COLLECTION)
    assert remaining["items"] == [deal]
