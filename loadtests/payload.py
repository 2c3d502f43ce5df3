"""The event payload every publisher sends, to Huddle and to the baselines alike.

    {"p": "<publisher id>", "s": <sequence, from 1>, "t": <time.monotonic_ns() at send>,
     "x": "<padding>"}

The padding makes the payload's compact JSON encoding (`encode`) exactly `pad` bytes long
(when `pad` is larger than the unpadded payload), so a scenario can give Huddle and a baseline
the same frame size on the wire: the harness takes `pad = frame size - envelope overhead` for
each server. `time.monotonic_ns()` is the system-wide CLOCK_MONOTONIC on Linux, comparable
across the processes of one machine: latency = receiver's `monotonic_ns()` - `t`.
"""

from __future__ import annotations

import time
from typing import Any, Final

import orjson

__all__ = ["Payload", "encode", "is_payload", "make", "parse"]

Payload = dict[str, Any]
_FIELDS: Final = ("p", "s", "t")


def make(pub: str, seq: int, pad: int = 0) -> Payload:
    """A payload from publisher `pub`, sequence `seq`, stamped now; its JSON is `pad` bytes
    long (or as short as it can be when `pad` is smaller)."""
    payload: Payload = {"p": pub, "s": seq, "t": time.monotonic_ns()}
    # `{"p":"…","s":1,"t":123}` + `,"x":""` = len(bare) + 7, then one byte per padding char.
    room = pad - len(orjson.dumps(payload)) - 7
    if room >= 0:
        payload["x"] = "x" * room
    return payload


def encode(payload: Payload) -> bytes:
    """The compact JSON of a payload (what `pad` measures)."""
    return orjson.dumps(payload)


def parse(data: Payload | bytes | str) -> tuple[str, int, int]:
    """`(pub, seq, t)` of a payload, given as the dict or as its JSON."""
    fields: Payload = data if isinstance(data, dict) else orjson.loads(data)
    return fields["p"], fields["s"], fields["t"]


def is_payload(data: object) -> bool:
    """True when `data` is a dict with the payload's fields (an event the harness sent)."""
    return isinstance(data, dict) and all(field in data for field in _FIELDS)
