"""Node-level calls of a backend: ping and the URL it reports."""

from __future__ import annotations

from huddle.backends.base import Backend
from tests.support.backends import BackendFactory


async def test_ping_answers_when_the_store_is_up(backend: Backend) -> None:
    """ping returns (None) while the store answers."""
    assert await backend.ping() is None


async def test_url_is_the_url_it_was_opened_with(make_backend: BackendFactory) -> None:
    """`url` is the configured backend URL (nothing to mask without a password)."""
    settings = make_backend.settings()
    backend = await make_backend.open()
    assert backend.url == settings.backend_url
