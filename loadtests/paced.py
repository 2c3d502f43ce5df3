"""A paced REST publisher for `soak` and `storm`: one event per 1/rate seconds to one node.

It keeps the offset and id of the newest event it was answered (`last_seq`, `last_id`), counts
what it published and every publish that failed (a non-201 answer or a transport error). A
publisher that falls behind its schedule does not burst to catch up: `rate` is a ceiling.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx

from .resuming import PUBLISH_PATH


class PacedPublisher:
    def __init__(self, base_url: str, token: str, *, rate: float, name: str) -> None:
        self.base_url = base_url
        self.token = token
        self.rate = rate
        self.name = name
        self.published = 0
        self.errors: list[str] = []
        self.last_seq = 0
        self.last_id = ""
        self.stop = asyncio.Event()

    async def publish_one(self, http: httpx.AsyncClient, n: int) -> None:
        body = {"type": "bench.soak", "data": {"p": self.name, "n": n}}
        try:
            answer = await http.post(PUBLISH_PATH, json=body)
        except httpx.HTTPError as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return
        if answer.status_code != 201:
            self.errors.append(f"HTTP {answer.status_code}: {answer.text[:200]}")
            return
        event = answer.json()
        self.published += 1
        if int(event["seq"]) > self.last_seq:
            self.last_seq, self.last_id = int(event["seq"]), str(event["id"])

    async def once(self) -> None:
        """Publish one event (a warm-up)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=10) as http:
            await self.publish_one(http, 0)

    async def run(self) -> None:
        """Publish until `stop` is set."""
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=10) as http:
            start = time.monotonic()
            n = 0
            while not self.stop.is_set():
                await self.publish_one(http, n)
                n += 1
                wait = start + n / self.rate - time.monotonic()
                if wait > 0:
                    with contextlib.suppress(TimeoutError):  # the pace, or `stop`
                        async with asyncio.timeout(wait):
                            await self.stop.wait()
                else:
                    start = time.monotonic() - n / self.rate  # behind: no burst afterwards
