"""What the scenario workers share on the client side: the JSON-lines protocol with the
harness (a spec line, then commands on stdin; reports on stdout), stats reports, latency
buckets, and the `--worker` entry point."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

ORG: Final = "bench"
WORKSPACE: Final = "w1"
TICK: Final = "bench.tick"
CONNECT_CONCURRENCY: Final = 64
STATS_EVERY: Final = 0.5


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def open_commands() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def next_command(reader: asyncio.StreamReader) -> dict[str, Any]:
    line = await reader.readline()
    if not line:
        raise SystemExit(0)  # the harness is gone
    message: dict[str, Any] = json.loads(line)
    return message


def bucket(us: int) -> int:
    """Round to 3 significant figures, so a histogram of latencies stays small."""
    if us < 1000:
        return us
    digits = len(str(us)) - 3
    return (us // 10**digits) * 10**digits


async def stats_loop(values: Callable[[], dict[str, Any]]) -> None:
    t0 = time.monotonic()
    c0 = sum(os.times()[:2])
    while True:
        await asyncio.sleep(STATS_EVERY)
        t1, c1 = time.monotonic(), sum(os.times()[:2])
        emit({"op": "stats", "cpu": round((c1 - c0) / (t1 - t0), 3), **values()})
        t0, c0 = t1, c1


Role = Callable[[dict[str, Any], asyncio.StreamReader], Awaitable[None]]


async def serve_roles(role: str, worker: Role, other: Role) -> None:
    """Raise the fd limit, read the spec line, then run `worker` when the spec's role is
    `role`, else `other`."""
    from ..machine import raise_fd_limit

    raise_fd_limit(say=False)
    commands = await open_commands()
    spec = await next_command(commands)
    await (worker if spec["role"] == role else other)(spec, commands)


def worker_cli(doc: str | None, worker_main: Callable[[], Awaitable[None]]) -> None:
    """`python -m loadtests.scenarios.<name>_worker --worker`."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--worker", action="store_true", required=True)
    parser.parse_args()
    asyncio.run(worker_main())
