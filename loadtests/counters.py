"""Correctness counters of one receiver, and a hook that breaks a stream on purpose.

A `Tally` belongs to one receiving connection. Per publisher it keeps the highest sequence
seen and the holes below it:

- a sequence above the highest opens holes for the ones skipped;
- a sequence that fills a hole is `out_of_order` (it came late), any other one at or below the
  highest is `duplicated`;
- after the final drain, `finish(expected)` counts as `lost` every hole left and everything
  after the highest up to the publisher's last sequence.

Huddle event ids (`<epoch>:<seq>`) must increase per workspace: an id not above the last one of
its workspace, on an event that is neither a duplicate nor late, is an `id_regression` (so a
repeated or swapped frame is counted once, where it belongs). A server-initiated close is
recorded with its code; what that receiver missed is lost, and also reported as
`missed_on_close`. Latency samples come from the payload's `monotonic_ns` stamp.

A run passes only when every counter of `LOSS_COUNTERS` is zero (`Tally.failures()`).
"""

from __future__ import annotations

import math
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Final, Generic, ParamSpec

__all__ = ["LOSS_COUNTERS", "FrameHook", "Tally", "percentiles"]

LOSS_COUNTERS: Final = ("lost", "duplicated", "out_of_order", "id_regressions", "epoch_changes")
"""Counters that fail a run when not zero."""

ABNORMAL_CLOSE: Final = 1006
"""Recorded for a connection that ended without a close frame."""

P = ParamSpec("P")


def percentiles(samples_ns: Iterable[int]) -> dict[str, float]:
    """p50, p99, p99.9 and max of latency samples, in milliseconds (nearest rank); `{}` when
    there is none."""
    ordered = sorted(samples_ns)
    n = len(ordered)
    if not n:
        return {}

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * n) - 1)] / 1e6

    return {"p50": rank(0.50), "p99": rank(0.99), "p999": rank(0.999), "max": ordered[-1] / 1e6}


class Tally:
    """What one receiver got. `record` each event, `server_close` a close the server started,
    then `finish(expected)` after the final drain."""

    __slots__ = (
        "_high",
        "_last_id",
        "_missing",
        "_sample_every",
        "_sinks",
        "closes",
        "duplicated",
        "epoch_changes",
        "id_regressions",
        "latencies_ns",
        "lost",
        "missed_on_close",
        "out_of_order",
        "received",
    )

    def __init__(self, latencies_ns: array[int] | None = None, *, sample_every: int = 1) -> None:
        """`latencies_ns` may be shared by many tallies (one array per process); a latency
        is kept for one event in `sample_every` (0: none)."""
        self.received = 0
        self.lost = 0
        self.duplicated = 0
        self.out_of_order = 0
        self.id_regressions = 0
        self.epoch_changes = 0
        self.missed_on_close = 0
        self.closes: Counter[int] = Counter()
        self.latencies_ns: array[int] = array("q") if latencies_ns is None else latencies_ns
        self._sample_every = sample_every
        self._sinks: set[int] = {id(self.latencies_ns)}  # sample arrays already included
        self._high: dict[str, int] = {}
        self._missing: dict[str, set[int]] = {}
        self._last_id: dict[str, tuple[str, int]] = {}

    def record(
        self,
        pub: str,
        seq: int,
        ws: str | None = None,
        event_id: str | None = None,
        sent_ns: int | None = None,
    ) -> None:
        """One event received: publisher `pub`'s `seq` (from 1), in workspace `ws` with Huddle
        id `event_id` (None for baselines and ephemeral events), stamped `sent_ns`."""
        self.received += 1
        if sent_ns is not None and self._sample_every and self.received % self._sample_every == 0:
            self.latencies_ns.append(time.monotonic_ns() - sent_ns)
        high = self._high.get(pub, 0)
        if seq > high:
            if seq > high + 1:
                self._missing.setdefault(pub, set()).update(range(high + 1, seq))
            self._high[pub] = seq
        else:
            holes = self._missing.get(pub)
            if holes is not None and seq in holes:
                holes.discard(seq)
                self.out_of_order += 1
            else:
                self.duplicated += 1
            return
        if event_id is not None and ws is not None:
            self._check_id(ws, event_id)

    def _check_id(self, ws: str, event_id: str) -> None:
        epoch, _, seq_text = event_id.rpartition(":")
        seq = int(seq_text)
        last = self._last_id.get(ws)
        if last is not None:
            if last[0] != epoch:
                self.epoch_changes += 1
            elif seq <= last[1]:
                self.id_regressions += 1
                return
        self._last_id[ws] = (epoch, seq)

    def server_close(self, code: int | None) -> None:
        """The server closed this receiver (`None`: the connection dropped without a code)."""
        self.closes[ABNORMAL_CLOSE if code is None else code] += 1

    def finish(self, expected: Mapping[str, int]) -> dict[str, int]:
        """After the final drain: `expected` maps each publisher to its last sequence sent.
        Sets `lost` (and `missed_on_close` when the server closed us) and returns
        `counters()`. May be called again with the same answer."""
        lost = sum(len(holes) for holes in self._missing.values())
        lost += sum(max(0, last - self._high.get(pub, 0)) for pub, last in expected.items())
        self.lost = lost
        self.missed_on_close = lost if self.closes else 0
        return self.counters()

    def counters(self) -> dict[str, int]:
        return {
            "received": self.received,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "out_of_order": self.out_of_order,
            "id_regressions": self.id_regressions,
            "epoch_changes": self.epoch_changes,
            "missed_on_close": self.missed_on_close,
            "server_closes": sum(self.closes.values()),
        }

    def percentiles(self) -> dict[str, float]:
        """Latency p50/p99/p999/max in ms over this tally's samples."""
        return percentiles(self.latencies_ns)

    def merge(self, other: Tally) -> None:
        """Add `other`'s finished counters, closes and latency samples into this one (to sum
        the receivers of a process); per-publisher state is not merged, and an array of
        samples shared by several tallies is added once."""
        self.received += other.received
        self.lost += other.lost
        self.duplicated += other.duplicated
        self.out_of_order += other.out_of_order
        self.id_regressions += other.id_regressions
        self.epoch_changes += other.epoch_changes
        self.missed_on_close += other.missed_on_close
        self.closes.update(other.closes)
        if id(other.latencies_ns) not in self._sinks:  # a shared array counts once
            self._sinks.add(id(other.latencies_ns))
            self.latencies_ns.extend(other.latencies_ns)

    def failures(self) -> list[str]:
        """Why the run fails: one line per nonzero counter of LOSS_COUNTERS and per server
        close code; empty when it passes."""
        counts = self.counters()
        problems = [f"{name}: {counts[name]}" for name in LOSS_COUNTERS if counts[name]]
        problems += [f"server closed {n} connection(s) with {c}" for c, n in self.closes.items()]
        return problems

    @property
    def passed(self) -> bool:
        return not self.failures()


class FrameHook(Generic[P]):
    """A test aid around a message callback: drops, repeats or swaps chosen frames.

    Frames are numbered from 1, counting only those for which `only(*args)` is true (all when
    `only` is None); the others pass straight through. `drop`: never delivered. `repeat`:
    delivered twice. `swap`: held and delivered right after the next numbered frame. `flush()`
    delivers a frame still held at the end.

        client.on_message = FrameHook(tally_frame, drop={3}, repeat={7}, swap={12}, only=is_event)
    """

    def __init__(
        self,
        inner: Callable[P, None],
        *,
        drop: Iterable[int] = (),
        repeat: Iterable[int] = (),
        swap: Iterable[int] = (),
        only: Callable[P, bool] | None = None,
    ) -> None:
        self.inner = inner
        self.drop = frozenset(drop)
        self.repeat = frozenset(repeat)
        self.swap = frozenset(swap)
        self.only = only
        self.seen = 0
        self.dropped = 0
        self.repeated = 0
        self.swapped = 0
        self._held: tuple[P.args, P.kwargs] | None = None  # type: ignore[valid-type]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        if self.only is not None and not self.only(*args, **kwargs):
            self.inner(*args, **kwargs)
            return
        self.seen += 1
        n = self.seen
        held = self._held
        if n in self.drop:
            self.dropped += 1
        elif n in self.swap and held is None:
            self._held = (args, kwargs)
            return
        else:
            self.inner(*args, **kwargs)
            if n in self.repeat:
                self.repeated += 1
                self.inner(*args, **kwargs)
        if held is not None:
            self._held = None
            self.swapped += 1
            self.inner(*held[0], **held[1])

    def flush(self) -> None:
        """Deliver a frame held for a swap that no later frame came to complete."""
        if self._held is not None:
            args, kwargs = self._held
            self._held = None
            self.inner(*args, **kwargs)
