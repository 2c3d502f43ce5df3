"""`verify`: a store that lets the node do all it must says so (on Redis: scripts, keys under
the prefix, publish and subscribe; the refusals are in tests/e2e/test_redis_faults.py)."""

from __future__ import annotations

from huddle.backends.base import Backend


async def test_a_store_the_node_may_fully_use_verifies(backend: Backend) -> None:
    await backend.verify()
    await backend.verify()  # leaves nothing behind that a second run would trip on
