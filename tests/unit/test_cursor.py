"""Cursors parse exactly `<epoch>:<seq>`; anything else is a typed BadCursor, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huddle.protocol.cursor import BadCursor, Cursor, parse_cursor


def test_a_cursor_round_trips() -> None:
    assert parse_cursor("3fa1b2c4:18") == Cursor("3fa1b2c4", 18)
    assert str(Cursor("3fa1b2c4", 18)) == "3fa1b2c4:18"


@pytest.mark.parametrize("raw", ["", ":", "a:", ":1", "a:-1", "a:01", "a:1:2", "a b:1", "a:1e3"])
def test_malformed_cursors_are_refused(raw: str) -> None:
    with pytest.raises(BadCursor):
        parse_cursor(raw)


@given(st.text(max_size=200))
def test_any_text_parses_or_raises_bad_cursor(raw: str) -> None:
    try:
        cursor = parse_cursor(raw)
    except BadCursor:
        return
    assert str(cursor) == raw
