"""Where an idle connection's memory goes: `python -m loadtests.memory_probe --n 1000`.

The idle scenario measures RSS per connection from outside; this probe says what it is made of.
It runs one Huddle node in this process (memory://, uvicorn with the node's flags) under
`tracemalloc`, opens `--n` connections from a client process exactly as scenario 6 does (a
token, `subscribe`, `presence.join`, workspaces of 10), and compares two snapshots: before the
connections (after a warm-up of 50) and after them, both after `gc.collect()`. Each allocation
is charged to the innermost Huddle frame on its stack, or else to the server below Huddle
("uvicorn + websockets") or to the framework around it. Traced bytes are Python's own
allocations; RSS adds the allocator's slack and tracemalloc's own overhead, so it reads higher
here than in scenario 6.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import socket
import sys
import tracemalloc
from typing import Final

WARMUP: Final = 50
PER_WORKSPACE: Final = 10
ORG: Final = "o1"
SECRET: Final = "memory-probe-secret-0123456789abcdef"


def _layer(trace: tracemalloc.Traceback) -> str:
    huddle = [f for f in reversed(trace) if "/src/huddle/" in f.filename]
    if huddle:
        frame = huddle[0]
        return f"huddle/{frame.filename.rsplit('/src/huddle/', 1)[1]}:{frame.lineno}"
    files = " ".join(f.filename for f in trace)
    if "websockets_sansio_impl" in files or "/websockets/" in files:
        return "uvicorn + websockets (below Huddle)"
    if "/starlette/" in files or "/fastapi/" in files:
        return "starlette + fastapi (around Huddle)"
    return "other"


async def _open(port: int, n: int, first: int) -> None:
    """The client side: `n` connections held open; prints one line once they all answered."""
    import websockets

    from .tokens import make_token

    held = []

    async def one(i: int) -> None:
        workspace = f"w-{i // PER_WORKSPACE}"
        token = make_token(SECRET, f"u{i}", ORG, workspace)
        conn = await websockets.connect(
            f"ws://127.0.0.1:{port}/v1/ws",
            subprotocols=[websockets.Subprotocol("huddle.v1.json")],
            additional_headers={"Authorization": f"Bearer {token}"},
            compression=None,
            open_timeout=60,
        )
        await conn.recv()  # hello
        where = {"org_id": ORG, "workspace_id": workspace}
        await conn.send(json.dumps({"id": 1, "op": "subscribe", **where}))
        await conn.send(json.dumps({"id": 2, "op": "presence.join", **where}))
        answered: set[int] = set()
        while answered != {1, 2}:
            message = json.loads(await conn.recv())
            if message.get("id") in (1, 2):
                answered.add(message["id"])
        held.append(conn)

    for start in range(first, first + n, 50):
        await asyncio.gather(*(one(i) for i in range(start, min(first + n, start + 50))))
    print("opened", flush=True)
    await asyncio.Event().wait()


async def _probe(n: int, port: int, top: int) -> None:
    import uvicorn

    from huddle import Settings, create_app

    tracemalloc.start(16)
    settings = Settings(backend_url="memory://", jwt_secret=SECRET)
    config = uvicorn.Config(
        create_app(settings),
        ws="websockets-sansio",
        http="httptools",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    # Bound before serving: the clients' connects wait in the backlog until the node is up.
    listening = socket.create_server(("127.0.0.1", port))
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    clients = []

    async def open_clients(count: int, first: int) -> None:
        client = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "loadtests.memory_probe",
            "--client",
            str(port),
            "--n",
            str(count),
            "--first",
            str(first),
            stdout=asyncio.subprocess.PIPE,
        )
        clients.append(client)
        assert client.stdout is not None
        line = await asyncio.wait_for(client.stdout.readline(), 60 + count / 20)
        if line.strip() != b"opened":
            raise RuntimeError(f"the client process answered {line!r}")

    try:
        await open_clients(WARMUP, 10**6)
        gc.collect()
        before = tracemalloc.take_snapshot()
        await open_clients(n, 0)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        for client in clients:
            client.kill()
            await client.wait()
        server.should_exit = True
        await serving
    by_layer: collections.Counter[str] = collections.Counter()
    for stat in after.compare_to(before, "traceback"):
        by_layer[_layer(stat.traceback)] += stat.size_diff
    total = sum(by_layer.values())
    print(f"{n} idle connections: {total / n / 1024:.1f} KiB traced per connection")
    print(f"{'bytes/conn':>10}  where")
    for layer, size in by_layer.most_common(top):
        print(f"{size / n:10.0f}  {layer}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.memory_probe", description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="idle connections (1000)")
    parser.add_argument("--port", type=int, default=0, help="the node's port (a free one)")
    parser.add_argument("--top", type=int, default=25, help="lines to print (25)")
    parser.add_argument("--client", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        asyncio.run(_open(args.client, args.n, args.first))
        return
    from .procs import free_port

    asyncio.run(_probe(args.n, args.port or free_port(), args.top))


if __name__ == "__main__":
    main()
