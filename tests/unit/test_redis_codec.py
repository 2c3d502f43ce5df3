"""Replies of a shape Huddle never asks Redis for are a 503, under `python -O` too."""

from __future__ import annotations

import pytest

from huddle.backends.redis_codec import UnexpectedReply, reply_int, reply_list
from huddle.errors import BackendUnavailable


def test_replies_of_the_expected_shape_pass_through() -> None:
    assert reply_list([b"a", 1]) == [b"a", 1]
    assert reply_int(3) == 3


@pytest.mark.parametrize("reply", [None, b"OK", 3, {"a": 1}])
def test_a_list_that_is_not_one_is_a_backend_failure(reply: object) -> None:
    with pytest.raises(UnexpectedReply) as refused:
        reply_list(reply)
    assert isinstance(refused.value, BackendUnavailable) and refused.value.status == 503


@pytest.mark.parametrize("reply", [None, b"1", [1], True, 1.5])
def test_an_integer_that_is_not_one_is_a_backend_failure(reply: object) -> None:
    with pytest.raises(UnexpectedReply):
        reply_int(reply)
