"""User tokens (`ApiKeyService`): a UUID per user, stored and looked up like an API key; issuing
the user another one replaces it in one atomic step, so exactly one works, even when two nodes
issue at once. On memory:// and on a real redis://."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Final

import pytest

from huddle.backends.base import Backend
from huddle.errors import Unauthenticated
from huddle.hub.node import Node
from huddle.models import CREDENTIAL_REVOKED, credentials_stream
from huddle.services.apikeys import ApiKeyService, user_token_id
from tests.support.backends import BackendFactory
from tests.support.contract import log_of

UUID: Final = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ROUNDS: Final = 20


async def issue(keys: ApiKeyService, user: str = "ana", *, admin: bool = False) -> str:
    _, token = await keys.issue_user_token(
        "acme", workspace_id="ws1", user_id=user, admin=admin, created_by="workdrive"
    )
    return token


async def works(keys: ApiKeyService, token: str) -> bool:
    try:
        await keys.authenticate(token)
    except Unauthenticated:
        return False
    return True


@dataclass(frozen=True)
class Two:
    """The key services of two nodes on one store (two Redis clients on redis://)."""

    here: ApiKeyService
    there: ApiKeyService
    backend: Backend

    async def record_ids(self) -> list[str]:
        return [record.id for record in await self.backend.keys.list("acme")]


@pytest.fixture
async def two(make_backend: BackendFactory) -> AsyncIterator[Two]:
    backend = await make_backend.open()
    twin = await make_backend.twin(backend)
    async with AsyncExitStack() as stack:
        nodes = [
            await stack.enter_async_context(Node(b, make_backend.settings()).running())
            for b in (backend, twin)
        ]
        yield Two(ApiKeyService(nodes[0]), ApiKeyService(nodes[1]), backend)


@pytest.fixture
def keys(two: Two) -> ApiKeyService:
    return two.here


async def test_a_user_token_is_a_uuid_that_authenticates_as_its_user(keys: ApiKeyService) -> None:
    """The token is a random (version 4) UUID; it authenticates, in either letter case, as its
    user in its workspace, under the user's deterministic key id."""
    record, token = await keys.issue_user_token(
        "acme", workspace_id="ws1", user_id="ana", admin=False, created_by="wd", name="Ana"
    )
    assert UUID.fullmatch(token)
    assert record.id == user_token_id("acme", "ana")
    assert re.fullmatch(r"ak_[0-9a-f]{16}", record.id)
    for sent in (token, token.upper()):
        principal = await keys.authenticate(sent)
        assert (principal.user_id, principal.org_id, principal.name) == ("ana", "acme", "Ana")
        assert principal.key_id == record.id and principal.workspaces == frozenset({"ws1"})
        assert not principal.is_admin
    assert not await works(keys, str(uuid.uuid4()))


def test_key_ids_are_per_org_and_user() -> None:
    """The id depends on the org and the user, and on nothing else."""
    assert user_token_id("acme", "ana") == user_token_id("acme", "ana")
    assert len({user_token_id(o, u) for o in ("acme", "globex") for u in ("ana", "ben")}) == 4
    # a separator, not a concatenation: ("acme", "1x") is not ("acme1", "x")
    assert user_token_id("acme", "1x") != user_token_id("acme1", "x")


async def test_issuing_again_stops_the_previous_token_at_once(two: Two) -> None:
    """A second token for the same user: the first is refused from then on (on the other node
    too), the second works, and the org holds one record per user."""
    first = await issue(two.here)
    other_user = await issue(two.here, "ben")
    second = await issue(two.there)

    for keys in (two.here, two.there):
        assert not await works(keys, first)
        assert await works(keys, second)
        assert await works(keys, other_user)
    assert sorted(await two.record_ids()) == sorted(
        [user_token_id("acme", "ana"), user_token_id("acme", "ben")]
    )


async def test_two_concurrent_issues_leave_exactly_one_token(two: Two) -> None:
    """Two nodes issue the same user a token at the same time, 20 times: each time exactly one
    of the two works (on both nodes), and every token that stopped was announced once."""
    issued: list[str] = []
    for _ in range(ROUNDS):
        tokens = await asyncio.gather(issue(two.here), issue(two.there))
        issued.extend(tokens)
        valid = [t for t in tokens if await works(two.here, t)]
        assert len(valid) == 1, f"{len(valid)} valid tokens after two concurrent issues"
        assert valid == [t for t in tokens if await works(two.there, t)]
    assert await two.record_ids() == [user_token_id("acme", "ana")]
    events = await log_of(two.backend, credentials_stream("acme"))
    announced = [e for e in events if e.type == CREDENTIAL_REVOKED]
    assert len(announced) == len(issued) - 1, "every token but the last one stopped, once"


async def test_the_admin_flag_changes_and_the_token_stays(keys: ApiKeyService) -> None:
    """set_user_token_admin rewrites the current token's role without changing the token;
    False for a user without one."""
    token = await issue(keys)
    assert await keys.set_user_token_admin("acme", "ana", admin=True) is True
    assert (await keys.authenticate(token)).is_admin
    assert (await keys.authenticate(token)).workspaces is None, "an admin key spans the org"
    assert await keys.set_user_token_admin("acme", "ana", admin=False) is True
    assert not (await keys.authenticate(token)).is_admin
    assert await keys.set_user_token_admin("acme", "nobody", admin=True) is False


async def test_a_revoked_user_token_stops(keys: ApiKeyService) -> None:
    """revoke_user_token answers True and the token stops; False when there is none left."""
    token = await issue(keys)
    assert await keys.revoke_user_token("acme", "ana") is True
    assert not await works(keys, token)
    assert await keys.revoke_user_token("acme", "ana") is False
    assert await keys.set_user_token_admin("acme", "ana", admin=True) is False


async def test_ids_of_the_wrong_shape_are_a_callers_mistake(keys: ApiKeyService) -> None:
    with pytest.raises(ValueError, match="user id"):
        await keys.issue_user_token(
            "acme", workspace_id="ws1", user_id="a b", admin=False, created_by="wd"
        )
    with pytest.raises(ValueError, match="org or workspace"):
        await keys.issue_user_token(
            "acme", workspace_id="~credentials", user_id="ana", admin=False, created_by="wd"
        )
