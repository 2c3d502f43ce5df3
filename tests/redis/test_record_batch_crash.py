"""A batch survives a crash whole or not at all: redis-server with an fsynced AOF (`appendonly
yes`, `appendfsync always`) is SIGKILLed while batches stream in, and restarted on its AOF.

One script per batch is one transaction in the AOF (`MULTI` ... `EXEC`), which Redis replays
whole or, torn, not at all; this test holds the store to that from the outside: every batch's
records are all there or none, every acknowledged batch is there, and the log holds exactly
the events of the records, each batch's one after another.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Final

from redis.asyncio import Redis

from huddle.backends import open_backend
from huddle.backends.base import Backend
from huddle.config import Settings
from huddle.errors import BackendUnavailable
from huddle.models import Event
from huddle.store import CreateOp, IndexEntry, Query, RecordEvent, RecordWrite, StoredRecord
from tests.support.contract import ANA_ACTOR, WS, log_of
from tests.support.record_audit import audit_records
from tests.support.redis_server import RedisServer, unique_prefix
from tests.support.waiting import wait_until

NOTES: Final = "note"
BATCH: Final = 20
"""Creates per batch."""
KILL_AFTER: Final = 15
"""Batches acknowledged before redis-server is killed."""
WITHIN: Final = 30.0


def tagged(tag: int, n: int) -> RecordWrite:
    """Record `n` of batch `tag`: the tag in its data, its index and its event."""
    data = {"tag": tag, "n": n}
    event = RecordEvent("note.created", ANA_ACTOR, {"tag": tag})
    return RecordWrite(data, ANA_ACTOR, event, [IndexEntry("tag", "n", tag)])


async def every_record(backend: Backend) -> list[StoredRecord]:
    records: list[StoredRecord] = []
    while True:
        page = await backend.records.query(WS, NOTES, Query(offset=len(records), limit=500))
        records.extend(page.records)
        if not page.records:
            return records


async def test_a_killed_redis_keeps_every_batch_whole_or_not_at_all(
    durable_redis: RedisServer,
) -> None:
    """Batches of 20 creates stream in; once 15 are acknowledged redis-server is SIGKILLed
    (a batch in flight) and restarted on its AOF: each batch's records are all there or none,
    every acknowledged one is, ids are dense, the keys are consistent, and the log holds one
    event per record, each batch's in one run."""
    settings = Settings(
        backend_url=durable_redis.url(), redis_prefix=unique_prefix(), redis_timeout=5.0
    )
    async with open_backend(settings) as backend:
        sent: list[int] = []
        acknowledged: list[int] = []
        enough = asyncio.Event()

        async def stream() -> BaseException:
            """Send batch after batch until one fails; that failure."""
            while True:
                tag = len(sent)
                sent.append(tag)
                try:
                    done = await backend.records.batch(
                        WS, [CreateOp(NOTES, tagged(tag, n)) for n in range(BATCH)]
                    )
                except BackendUnavailable as exc:
                    return exc
                assert isinstance(done, tuple), done
                acknowledged.append(tag)
                if len(acknowledged) >= KILL_AFTER:
                    enough.set()

        writer = asyncio.create_task(stream())
        async with asyncio.timeout(WITHIN):
            await enough.wait()
        # in a thread, so the writer keeps sending while the server dies
        await asyncio.to_thread(durable_redis.kill)
        async with asyncio.timeout(WITHIN):
            failure = await writer
        assert isinstance(failure, BackendUnavailable)
        assert len(acknowledged) >= KILL_AFTER and len(sent) == len(acknowledged) + 1
        await asyncio.to_thread(durable_redis.start)

        async def records_after_restart() -> list[StoredRecord] | None:
            try:
                return await every_record(backend)
            except BackendUnavailable:  # a connection to the dead process, met once
                return None

        records = await wait_until(
            records_after_restart, within=WITHIN, what="Redis to answer after its restart"
        )
        assert records is not None
        events: list[Event] = await log_of(backend)

    per_batch = Counter(record.data["tag"] for record in records)
    assert set(per_batch.values()) == {BATCH}, f"a batch is there in part: {per_batch}"
    assert set(acknowledged) <= set(per_batch) <= set(sent)
    assert [r.id for r in records] == list(range(1, len(records) + 1)), "no id was used twice"
    assert [r.data["n"] for r in records] == list(range(BATCH)) * len(per_batch)

    raw = Redis.from_url(durable_redis.url())
    try:
        audited = await audit_records(raw, f"{settings.redis_prefix}:{{{WS.tag}}}")
    finally:
        await raw.aclose()
    assert not audited.problems, audited.report()

    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len({e.epoch for e in events}) == 1, "the log was kept"
    assert [(e.data["id"], e.data["tag"]) for e in events] == [
        (r.id, r.data["tag"]) for r in records
    ], "one event per record, in the order of the ids, so each batch's in one run"
