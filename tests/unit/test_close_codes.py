"""Close codes: the number alone tells a client whether to reconnect."""

from __future__ import annotations

import pytest

from huddle.protocol.close_codes import CloseCode


def test_close_codes_keep_their_wire_values() -> None:
    """Clients hard-code these numbers: they never change."""
    assert {code.name: int(code) for code in CloseCode} == {
        "BACKEND_UNAVAILABLE": 4001,
        "GOING_AWAY": 4002,
        "SLOW_CONSUMER": 4008,
        "AUTH_EXPIRED": 4010,
        "TOO_MANY_CONNECTIONS": 4029,
        "INVALID_TOKEN": 4500,
        "FORBIDDEN_ORIGIN": 4501,
        "BAD_FRAME": 4502,
        "UNSUPPORTED_SUBPROTOCOL": 4503,
        "AUTH_REQUIRED": 4504,
    }


@pytest.mark.parametrize("code", list(CloseCode))
def test_codes_below_4500_say_reconnect_and_the_rest_say_stop(code: CloseCode) -> None:
    """`reconnect` is exactly `code < 4500`, inside the application range 4000..4999."""
    assert 4000 <= code <= 4999
    assert code.reconnect is (code < 4500)


def test_transient_conditions_reconnect_and_refusals_do_not() -> None:
    """Overload, shutdown and expiry are worth a retry; bad credentials or frames are not."""
    assert CloseCode.SLOW_CONSUMER.reconnect and CloseCode.AUTH_EXPIRED.reconnect
    assert CloseCode.TOO_MANY_CONNECTIONS.reconnect and CloseCode.GOING_AWAY.reconnect
    assert not CloseCode.INVALID_TOKEN.reconnect and not CloseCode.BAD_FRAME.reconnect
    assert not CloseCode.AUTH_REQUIRED.reconnect


@pytest.mark.parametrize("code", list(CloseCode))
def test_every_code_has_a_reason_that_fits_a_close_frame(code: CloseCode) -> None:
    """A close frame's reason is at most 123 bytes; ours are short, non-empty ASCII."""
    assert code.reason and code.reason.isascii()
    assert len(code.reason.encode()) <= 123
