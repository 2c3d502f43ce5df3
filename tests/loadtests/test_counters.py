"""Correctness counters: a hook that drops, repeats or swaps frames yields exactly those counts
and a failed run; a clean stream passes; server closes count what those clients missed."""

from __future__ import annotations

from array import array
from typing import Any

import orjson
import pytest

from loadtests import payload
from loadtests.counters import LOSS_COUNTERS, FrameHook, Tally, percentiles
from loadtests.results import RunResult

ZERO = dict.fromkeys(LOSS_COUNTERS, 0)


def huddle_frames(pub: str, count: int, first_seq: int = 1) -> list[bytes]:
    """WS JSON frames as a Huddle node pushes them: the hello, a reply, then `count` events of
    publisher `pub` with ids `e1:<n>`."""
    frames = [orjson.dumps({"op": "hello"}), orjson.dumps({"id": 1, "ok": True})]
    for seq in range(first_seq, first_seq + count):
        event = {"id": f"e1:{seq + 10}", "type": "test.load", "data": payload.make(pub, seq, 80)}
        frames.append(orjson.dumps({"op": "event", "event": event}))
    return frames


def receiver(tally: Tally) -> Any:
    """The `on_message` of a harness receiver: events with a payload go to the tally."""

    def on_message(data: bytes, is_text: bool) -> None:
        frame = orjson.loads(data)
        if frame.get("op") == "event" and payload.is_payload(frame["event"]["data"]):
            event = frame["event"]
            pub, seq, sent = payload.parse(event["data"])
            tally.record(pub, seq, "acme/ws1", event["id"], sent)

    return on_message


def is_event(data: bytes, is_text: bool) -> bool:
    return data.startswith(b'{"op":"event"')


def as_run(tally: Tally) -> RunResult:
    """The run result a scenario would record from this receiver's counters."""
    return RunResult("fanout", "huddle", "ws-json", "memory", 1, 1, 0, counters=tally.counters())


def run(hook_args: dict[str, set[int]], count: int = 50) -> tuple[Tally, FrameHook[Any]]:
    tally = Tally()
    hook: FrameHook[Any] = FrameHook(receiver(tally), only=is_event, **hook_args)
    for frame in huddle_frames("p1", count):
        hook(frame, True)
    hook.flush()
    tally.finish({"p1": count})
    return tally, hook


def test_a_clean_stream_passes_with_every_counter_zero() -> None:
    tally, _ = run({})
    assert tally.counters() == {**ZERO, "received": 50, "missed_on_close": 0, "server_closes": 0}
    assert tally.passed
    assert tally.failures() == []
    assert as_run(tally).passed


@pytest.mark.parametrize(
    ("hook_args", "expected"),
    [
        ({"drop": {3}}, {"lost": 1}),
        ({"drop": {1, 2, 50}}, {"lost": 3}),
        ({"repeat": {7}}, {"duplicated": 1}),
        ({"repeat": {1, 50}}, {"duplicated": 2}),
        ({"swap": {12}}, {"out_of_order": 1}),
        ({"swap": {12, 30}}, {"out_of_order": 2}),
        (
            {"drop": {3}, "repeat": {7, 8}, "swap": {20}},
            {"lost": 1, "duplicated": 2, "out_of_order": 1},
        ),
    ],
)
def test_a_hook_yields_exactly_its_counts_and_a_failed_run(
    hook_args: dict[str, set[int]], expected: dict[str, int]
) -> None:
    tally, hook = run(hook_args)
    counts = tally.counters()
    assert {name: counts[name] for name in LOSS_COUNTERS} == {**ZERO, **expected}
    assert (hook.dropped, hook.repeated, hook.swapped) == (
        len(hook_args.get("drop", ())),
        len(hook_args.get("repeat", ())),
        len(hook_args.get("swap", ())),
    )
    assert not tally.passed
    assert sorted(tally.failures()) == sorted(f"{k}: {v}" for k, v in expected.items())
    assert not as_run(tally).passed
    assert sorted(as_run(tally).failures) == sorted(f"{k}={v}" for k, v in expected.items())


def test_a_swap_of_the_last_frame_is_delivered_in_order_by_flush() -> None:
    tally, hook = run({"swap": {50}})
    assert hook.swapped == 0
    assert tally.passed


def test_ids_must_increase_per_workspace() -> None:
    tally = Tally()
    tally.record("a", 1, "w1", "e:5")
    tally.record("a", 2, "w2", "e:1")  # another workspace: its own sequence
    tally.record("a", 3, "w1", "e:5")  # a new event reusing an id
    tally.record("a", 4, "w1", "e:4")  # going back
    tally.record("a", 5, "w1", "e:9")
    tally.record("a", 6, "w1", None)  # ephemeral: no id
    tally.record("a", 7, "w1", "f:1")  # another epoch
    assert tally.finish({"a": 7})["id_regressions"] == 2
    assert tally.epoch_changes == 1
    assert set(tally.failures()) == {"id_regressions: 2", "epoch_changes: 1"}


def test_what_a_closed_client_missed_is_lost_and_the_close_is_reported() -> None:
    tally = Tally()
    for seq in range(1, 11):
        tally.record("a", seq)
    tally.server_close(4008)
    counts = tally.finish({"a": 25, "b": 3})  # b's events never came at all
    assert counts["lost"] == 18
    assert counts["missed_on_close"] == 18
    assert counts["server_closes"] == 1
    assert tally.closes == {4008: 1}
    assert tally.failures() == ["lost: 18", "server closed 1 connection(s) with 4008"]
    assert tally.finish({"a": 25, "b": 3}) == counts  # idempotent


def test_a_dropped_connection_is_recorded_as_1006() -> None:
    tally = Tally()
    tally.server_close(None)
    assert tally.closes == {1006: 1}
    assert not tally.passed


def test_tallies_of_a_process_merge() -> None:
    shared: array[int] = array("q")
    first, second = Tally(shared), Tally(shared)
    for seq in (1, 2, 2, 4):
        first.record("a", seq, sent_ns=0)
    second.record("a", 1, sent_ns=0)
    first.finish({"a": 4})
    second.finish({"a": 1})
    total = Tally()
    total.merge(first)
    total.merge(second)
    assert (total.received, total.lost, total.duplicated) == (5, 1, 1)
    assert len(shared) == 5
    assert len(total.latencies_ns) == 5


def test_latency_percentiles_in_milliseconds() -> None:
    assert percentiles([]) == {}
    samples = [n * 1_000_000 for n in range(1, 1001)]  # 1 .. 1000 ms
    assert percentiles(samples) == {"p50": 500.0, "p99": 990.0, "p999": 999.0, "max": 1000.0}
    tally = Tally(sample_every=2)
    for seq in range(1, 11):
        tally.record("a", seq, sent_ns=payload.make("a", seq)["t"])
    assert len(tally.latencies_ns) == 5
    assert 0 <= tally.percentiles()["p50"] < 1000


def test_payload_pads_to_the_exact_size_and_parses_back() -> None:
    made = payload.make("pub-7", 123, 200)
    encoded = payload.encode(made)
    assert len(encoded) == 200
    assert payload.parse(encoded) == ("pub-7", 123, made["t"])
    assert payload.parse(encoded.decode()) == payload.parse(made)
    assert len(payload.encode(payload.make("pub-7", 123, 10))) > 10  # too small: no padding
    assert payload.is_payload(made)
    assert not payload.is_payload({"n": 1})
