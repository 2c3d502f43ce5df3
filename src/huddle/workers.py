"""`huddle serve --workers N`: one port, N worker processes, each a whole node.

The supervisor binds the port once and starts N workers that inherit the listening socket;
each runs exactly what `huddle serve` runs (the same settings, app, protocols and drain), under
its own node id `<HUDDLE_NODE_ID>-w<i>`. Nodes share everything through the backend, so the
workers must share one: memory:// is refused.

Why an inherited socket rather than one SO_REUSEPORT socket per worker: with one socket there
is one accept queue, and whichever worker is free takes the next connection. The port stays
bound while a worker restarts, so no connection is refused then; a worker that dies loses only
the connections it had accepted. With SO_REUSEPORT the kernel hashes each connection to one
worker's own queue: connections queued for a worker that dies or drains are reset, and an
unrelated process may bind the same port and silently take a share of the traffic. The price
is balance: idle workers race for each connection, so the split is even only on average.

Restarts: a worker that exits while the supervisor is not stopping is started again after a
pause (`RESTART_BACKOFF`, doubled on each death up to `MAX_BACKOFF`, afresh once a worker has
lived `STABLE_AFTER`). A worker that dies more than `GIVE_UP_AFTER` times within
`RESTART_WINDOW` means restarting does not help (a bad deploy, a backend that refuses it): the
supervisor stops every worker and exits 1.

Stopping: SIGTERM or SIGINT is forwarded to every worker, which drains as a single node does;
the supervisor exits 0 once all exited cleanly, 1 if one failed or outlived its drain deadline
(it is then killed). Workers run in their own process group, so Ctrl-C reaches them once,
through the supervisor; a worker whose supervisor is gone (killed) drains and exits by itself.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Final, TextIO

from .config import Settings, mask_password
from .errors import ConfigError
from .server import AFTER_DRAIN

RESTART_BACKOFF: Final = 0.5
MAX_BACKOFF: Final = 10.0
STABLE_AFTER: Final = 30.0
GIVE_UP_AFTER: Final = 5
RESTART_WINDOW: Final = 60.0
#: Seconds past a worker's own drain deadline before the supervisor kills it.
STOP_MARGIN: Final = 5.0
BACKLOG: Final = 2048
_CLEAN_EXITS: Final = frozenset({0, -signal.SIGTERM, -signal.SIGINT})
_CHUNK: Final = 65_536


def refuse_unshared(settings: Settings) -> None:
    """Raise ConfigError when `settings.workers` > 1 on a backend the workers cannot share."""
    if settings.workers > 1 and settings.is_memory:
        raise ConfigError(
            f"--workers {settings.workers} needs a shared backend: on memory:// each worker "
            "would have its own memory, so they would not share presence, locks or events; "
            "use redis://"
        )


def bind(settings: Settings) -> socket.socket:
    """The listening socket every worker inherits; OSError if the address is taken."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings.host, settings.port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def exit_with_supervisor(fd: int) -> None:
    """In a worker: drain (SIGTERM to itself) once the supervisor is gone, which `fd` tells by
    its end of file: it is the read end of a pipe whose write end only the supervisor holds."""

    def watch() -> None:
        while os.read(fd, 1):
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


@dataclass(slots=True)
class _Worker:
    index: int
    node_id: str
    process: asyncio.subprocess.Process | None = None
    started: float = 0.0
    backoff: float = RESTART_BACKOFF
    deaths: deque[float] = field(default_factory=deque)

    @property
    def name(self) -> str:
        return f"w{self.index}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None


class Supervisor:
    """Runs `settings.workers` workers on `sock` until told to stop (`run`)."""

    def __init__(
        self,
        settings: Settings,
        sock: socket.socket,
        *,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.settings = settings
        self.sock = sock
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        base = settings.node_id or f"node-{os.urandom(3).hex()}"
        self.workers = [_Worker(i, f"{base}-w{i}") for i in range(1, settings.workers + 1)]
        self.port: int = sock.getsockname()[1]
        self.stopping = asyncio.Event()
        self.stop_signal = signal.SIGTERM
        self.failed = False
        self._watch_read, self._watch_write = os.pipe()
        self._tasks: asyncio.TaskGroup | None = None
        self._deadline: asyncio.Task[None] | None = None

    async def run(self) -> int:
        """Start the workers, keep them running, stop them on SIGTERM/SIGINT; the exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop, sig)
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                keepers = [
                    tasks.create_task(self._keep(worker), name=f"huddle {worker.name}")
                    for worker in self.workers
                ]
                await asyncio.wait(keepers)
                if self._deadline is not None:
                    self._deadline.cancel()  # every worker exited in time
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            self.sock.close()
            os.close(self._watch_read)
            os.close(self._watch_write)
        self._say(f"all workers exited{'; some did not exit cleanly' if self.failed else ''}")
        return 1 if self.failed else 0

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Forward `sig` to every worker (again, on a second signal: a second SIGINT makes
        uvicorn stop waiting) and kill those still running after their drain deadline."""
        first = not self.stopping.is_set()
        self.stopping.set()
        self.stop_signal = sig
        if first:
            # New connections are refused now, as by a single node that drains, rather than
            # queued for workers that no longer accept (each closes its copy as it drains).
            self.sock.close()
        running = [w for w in self.workers if w.running]
        self._say(f"{sig.name}: stopping {len(running)} worker(s); each drains")
        for worker in running:
            assert worker.process is not None
            worker.process.send_signal(sig)
        if first and self._tasks is not None:
            self._deadline = self._tasks.create_task(self._kill_late(), name="huddle deadline")

    async def _kill_late(self) -> None:
        within = self.settings.drain_timeout + AFTER_DRAIN + STOP_MARGIN
        await asyncio.sleep(within)
        for worker in self.workers:
            if worker.running:
                assert worker.process is not None
                self._say(f"{worker.name} still running {within:g} s after the signal; killed")
                self.failed = True
                worker.process.kill()

    async def _keep(self, worker: _Worker) -> None:
        while not self.stopping.is_set():
            process = await self._start(worker)
            code = await process.wait()
            if self.stopping.is_set():
                if code not in _CLEAN_EXITS:
                    self.failed = True
                self._say(f"{worker.name} (pid {process.pid}) exited with code {code}")
                return
            await self._after_death(worker, code)

    async def _start(self, worker: _Worker) -> asyncio.subprocess.Process:
        env = {
            **os.environ,
            "HUDDLE_HOST": self.settings.host,
            "HUDDLE_PORT": str(self.port),
            "HUDDLE_BACKEND_URL": self.settings.backend_url,
            "HUDDLE_LOG_LEVEL": self.settings.log_level,
            "HUDDLE_NODE_ID": worker.node_id,
            "HUDDLE_WORKERS": "1",
        }
        listen = self.sock.fileno()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "huddle.cli",
            "serve",
            "--listen-fd",
            str(listen),
            "--supervisor-fd",
            str(self._watch_read),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            pass_fds=(listen, self._watch_read),
            process_group=0,  # a terminal's Ctrl-C reaches the workers through us, once
        )
        worker.process, worker.started = process, time.monotonic()
        self._say(f"{worker.name} started: pid {process.pid}, node {worker.node_id}")
        prefix = f"[{worker.name} {process.pid}] "
        assert self._tasks is not None
        assert process.stdout is not None
        assert process.stderr is not None
        self._tasks.create_task(_relay(process.stdout, prefix, self.out))
        self._tasks.create_task(_relay(process.stderr, prefix, self.err))
        if self.stopping.is_set():  # the signal came while it started
            process.send_signal(self.stop_signal)
        return process

    async def _after_death(self, worker: _Worker, code: int) -> None:
        now = time.monotonic()
        assert worker.process is not None
        pid = worker.process.pid
        worker.deaths.append(now)
        while worker.deaths and worker.deaths[0] < now - RESTART_WINDOW:
            worker.deaths.popleft()
        if len(worker.deaths) > GIVE_UP_AFTER:
            self._say(
                f"{worker.name} (pid {pid}) died {len(worker.deaths)} times within "
                f"{RESTART_WINDOW:g} s (last exit code {code}): restarting does not help; "
                "stopping every worker"
            )
            self.failed = True
            self.stop(signal.SIGTERM)
            return
        if now - worker.started >= STABLE_AFTER:
            worker.backoff = RESTART_BACKOFF
        pause, worker.backoff = worker.backoff, min(worker.backoff * 2, MAX_BACKOFF)
        self._say(f"{worker.name} (pid {pid}) died with code {code}; restarting in {pause:g} s")
        try:
            async with asyncio.timeout(pause):
                await self.stopping.wait()
        except TimeoutError:
            pass

    def _say(self, line: str) -> None:
        print(f"huddle supervisor: {line}", file=self.err, flush=True)


async def _relay(reader: asyncio.StreamReader, prefix: str, out: TextIO) -> None:
    """Copy a worker's output to ours, each line prefixed with the worker's name and pid; a
    line longer than `_CHUNK` bytes is split rather than buffered whole."""
    pending = b""
    while chunk := await reader.read(_CHUNK):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        if len(pending) >= _CHUNK:
            lines.append(pending)
            pending = b""
        for line in lines:
            out.write(prefix + line.decode(errors="replace") + "\n")
        out.flush()
    if pending:
        out.write(prefix + pending.decode(errors="replace") + "\n")
        out.flush()


def supervise(settings: Settings) -> int:
    """`huddle serve` with `settings.workers` > 1: bind, run the supervisor, its exit code."""
    from .app import create_app

    refuse_unshared(settings)
    create_app(settings)  # a configuration error stops us once, rather than each worker
    try:
        sock = bind(settings)
    except OSError as exc:
        print(
            f"huddle: error while attempting to bind on {settings.host}:{settings.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    port = sock.getsockname()[1]
    base = f"http://{settings.host}:{port}"
    print(
        f"Huddle {base}  backend {mask_password(settings.backend_url)}  "
        f"{settings.workers} workers  API docs {base}/docs",
        flush=True,
    )
    return asyncio.run(Supervisor(settings, sock).run())
