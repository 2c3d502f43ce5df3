"""Per-node connection counts and the per-connection publish budget (hub/limits.py)."""

from __future__ import annotations

import pytest

from huddle.errors import TooManyConnections
from huddle.hub.limits import ConnectionLimits, TokenBucket

ANA = ("acme", "ana")
BEN = ("acme", "ben")
ANA_OF_GLOBEX = ("globex", "ana")


def limits(
    ws_max: int = 10, ws_max_per_user: int = 10, sse_max_per_user: int = 10
) -> ConnectionLimits:
    return ConnectionLimits(
        ws_max=ws_max, ws_max_per_user=ws_max_per_user, sse_max_per_user=sse_max_per_user
    )


def test_the_node_limit_refuses_one_more_websocket_and_counts_nothing() -> None:
    """At `ws_max` open WebSockets, one more raises TooManyConnections with the limit."""
    node = limits(ws_max=2)
    node.admit("ws", ANA)
    node.admit("ws", BEN)
    with pytest.raises(TooManyConnections) as refused:
        node.admit("ws", ("acme", "carl"))
    assert refused.value.status == 429 and refused.value.details == {"limit": 2}
    assert node.count("ws") == 2


def test_the_per_user_limit_counts_users_per_org_and_per_transport() -> None:
    """One user's connections are counted apart from other users, orgs and transports."""
    node = limits(ws_max_per_user=1, sse_max_per_user=1)
    node.admit("ws", ANA)
    with pytest.raises(TooManyConnections) as refused:
        node.admit("ws", ANA)
    assert refused.value.details == {"limit": 1}
    node.admit("ws", BEN)
    node.admit("ws", ANA_OF_GLOBEX)
    node.admit("sse", ANA)
    with pytest.raises(TooManyConnections):
        node.admit("sse", ANA)
    assert (node.count("ws"), node.count("sse")) == (3, 1)


def test_a_released_slot_frees_its_place_once() -> None:
    """Leaving the slot's block frees it; a second release changes nothing."""
    node = limits(ws_max_per_user=1)
    with node.admit("ws", ANA) as slot:
        assert node.count("ws") == 1
    slot.release()
    assert node.count("ws") == 0
    node.admit("ws", ANA)
    assert node.count("ws") == 1


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_allows_a_burst_of_one_second_then_the_rate() -> None:
    """`rate` tokens at once, then one more every 1/rate seconds; a refusal spends nothing."""
    clock = FakeTime()
    bucket = TokenBucket(4, now=clock)
    assert [bucket.take() for _ in range(5)] == [True, True, True, True, False]
    clock.now += 0.25
    assert bucket.take() and not bucket.take()
    clock.now += 10
    assert sum(bucket.take() for _ in range(10)) == 4


def test_a_rate_below_one_still_allows_one_publish() -> None:
    """With rate 0.5 the bucket holds one token, refilled every two seconds."""
    clock = FakeTime()
    bucket = TokenBucket(0.5, now=clock)
    assert bucket.take() and not bucket.take()
    clock.now += 1.9
    assert not bucket.take()
    clock.now += 0.2
    assert bucket.take()
