"""Every process the harness measures or drives, started here and stopped here by its pid.

`Procs` is an async context manager: leaving it (normally, on an exception, on Ctrl-C or on
SIGTERM) stops each child it started, SIGTERM then SIGKILL, and waits for it. Children also get
PR_SET_PDEATHSIG, so even a harness killed with SIGKILL takes them along.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from collections import deque
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from .machine import REPO, pin
from .tokens import make_token

STOP_TIMEOUT = 5.0
READY_TIMEOUT = 30.0
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_of(pid: int, *, children: bool = False) -> float:
    """CPU seconds (user + system) process `pid` has used, from /proc; 0.0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _CLK_TCK


def rss_of(pid: int) -> int:
    """Resident set size of `pid` in bytes (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: SIGKILL it when the harness dies, however.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Child:
    """A started process: its pid, name and the tail of what it printed."""

    name: str
    pid: int
    proc: asyncio.subprocess.Process
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    started_cpu: float = 0.0

    def output(self) -> str:
        return "\n".join(self.tail)


@dataclass(frozen=True)
class RedisProc:
    url: str
    pid: int
    port: int


@dataclass(frozen=True)
class Node:
    """A `huddle serve` process; `changes` lists the settings that differ from production."""

    url: str
    pid: int
    name: str
    backend_url: str
    changes: dict[str, str]


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    name: str


class Worker:
    """A client worker process speaking JSON lines: commands on stdin, reports on stdout."""

    def __init__(self, child: Child, lines: asyncio.Queue[dict[str, Any]]) -> None:
        self.child = child
        self.pid = child.pid
        self.name = child.name
        self._lines = lines

    def send(self, message: Mapping[str, Any]) -> None:
        stdin = self.child.proc.stdin
        assert stdin is not None
        stdin.write(json.dumps(message).encode() + b"\n")

    async def recv(self, wait: float = 60.0) -> dict[str, Any]:
        """The next report; raises RuntimeError (with its output) if the worker ended first."""
        try:
            async with asyncio.timeout(wait):
                message = await self._lines.get()
        except TimeoutError:
            raise RuntimeError(
                f"worker {self.name} sent nothing for {wait} s:\n{self.child.output()}"
            ) from None
        if message.get("op") == "exit":
            raise RuntimeError(
                f"worker {self.name} exited ({message.get('code')}):\n{self.child.output()}"
            )
        return message

    async def expect(self, op: str, wait: float = 60.0) -> dict[str, Any]:
        """Skip reports until one with this `op` (e.g. "ready", "result")."""
        while True:
            message = await self.recv(wait)
            if message.get("op") == op:
                return message


def huddle_command() -> list[str]:
    """`.venv/bin/huddle serve` beside this interpreter, else `python -m huddle.cli serve`."""
    script = Path(sys.executable).parent / "huddle"
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-m", "huddle.cli", "serve"]


class Procs:
    """Starts redis-server, Huddle nodes, baseline servers and client workers; stops them all."""

    def __init__(
        self, *, secret: str | None = None, say: bool = False, cprofile: bool = False
    ) -> None:
        self.secret = secret or secrets.token_hex(32)
        self.children: list[Child] = []
        self.say = say
        #: start nodes and baseline servers under cProfile (`--profile` where py-spy may not
        #: attach): `loadtests.cprofile_server`, switched by SIGUSR1/SIGUSR2 (profiling.py)
        self.cprofile = cprofile
        self._cprofile_prefix: dict[int, Path] = {}
        self._home: Path | None = None
        self._signals: list[int] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Procs:
        self._home = Path(tempfile.mkdtemp(prefix="hd-bench-"))
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is not None:
            for sig in (signal.SIGTERM, signal.SIGHUP):
                with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                    loop.add_signal_handler(sig, task.cancel)
                    self._signals.append(sig)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.remove_signal_handler(sig)
        children = list(self.children)
        self.stop_all()  # synchronous: done even if what follows is cancelled
        for child in children:
            if child.proc.stdin is not None:
                child.proc.stdin.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_TIMEOUT):
                    await child.proc.wait()
        if self._tasks:
            # the output pumps end at EOF, which the stopped children have sent
            _, pending = await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT)
            for task in pending:
                task.cancel()
        for child in children:
            transport = getattr(child.proc, "_transport", None)  # closes the pipes' transports
            if transport is not None:
                transport.close()
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)

    @property
    def pids(self) -> list[int]:
        return [c.pid for c in self.children]

    def workdir(self, name: str) -> Path:
        """A directory of this Procs' own (removed when it is left)."""
        assert self._home is not None
        path = self._home / name
        path.mkdir(exist_ok=True)
        return path

    def cprofile_prefix(self, pid: int) -> Path | None:
        """Where server `pid`, started under cProfile, writes `<prefix>-<k>.prof`; else None."""
        return self._cprofile_prefix.get(pid)

    def _under_cprofile(self, name: str, module_argv: Sequence[str]) -> tuple[list[str], Path]:
        """`python -m loadtests.cprofile_server PREFIX -m module args…` for `-m module args…`."""
        prefix = self.workdir("cprofile") / name
        argv = [sys.executable, "-m", "loadtests.cprofile_server", str(prefix), *module_argv]
        return argv, prefix

    # -- starting -------------------------------------------------------------------------

    async def _start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cores: set[int] | None = None,
        stdin: bool = False,
        lines: asyncio.Queue[dict[str, Any]] | None = None,
    ) -> Child:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE if lines is not None else asyncio.subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=REPO,
            preexec_fn=_die_with_parent,
            limit=1 << 20,
        )
        child = Child(name, proc.pid, proc)
        self.children.append(child)
        if cores:
            with contextlib.suppress(OSError):
                pin(proc.pid, cores)
        child.started_cpu = cpu_of(proc.pid)
        if lines is not None:
            assert proc.stdout is not None
            assert proc.stderr is not None
            self._task(self._pump_json(child, proc.stdout, lines))
            self._task(self._pump(child, proc.stderr))
        return child

    def _task(self, coro: Coroutine[Any, Any, None]) -> None:
        """A pump owned by this Procs: awaited (or cancelled) when it is left."""
        self._tasks.add(asyncio.create_task(coro))

    async def _pump(self, child: Child, stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            child.tail.append(line)
            if self.say:
                print(f"[{child.name}] {line}", file=sys.stderr)

    async def _pump_json(
        self, child: Child, stream: asyncio.StreamReader, lines: asyncio.Queue[dict[str, Any]]
    ) -> None:
        async for raw in stream:
            try:
                message = json.loads(raw)
            except ValueError:
                child.tail.append(raw.decode(errors="replace").rstrip())
                continue
            lines.put_nowait(message)
        code = await child.proc.wait()
        lines.put_nowait({"op": "exit", "code": code})

    async def _wait_line(self, child: Child, needles: Sequence[str], wait: float) -> None:
        """Read the child's output until a line holds one of `needles`; then keep draining."""
        stream = child.proc.stdout
        assert stream is not None
        try:
            async with asyncio.timeout(wait):
                async for raw in stream:
                    line = raw.decode(errors="replace").rstrip()
                    child.tail.append(line)
                    if any(n in line.lower() for n in needles):
                        break
                else:
                    raise RuntimeError(f"{child.name} exited before it was ready")
        except (TimeoutError, RuntimeError) as exc:
            raise RuntimeError(f"{child.name} not ready: {exc!r}\n{child.output()}") from None
        self._task(self._pump(child, stream))

    async def redis(self, *, cores: set[int] | None = None) -> RedisProc:
        """Our own redis-server on a free port: no RDB snapshots, no AOF, no system service."""
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server missing: `make redis-server` installs it")
        assert self._home is not None
        home = self._home / f"redis{len(self.children)}"
        home.mkdir()
        port = free_port()
        argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        argv += ["no", "--dir", str(home), "--protected-mode", "no", "--maxclients", "10000"]
        child = await self._start("redis", argv, cores=cores)
        await self._wait_line(child, ["ready to accept connections"], READY_TIMEOUT)
        return RedisProc(f"redis://127.0.0.1:{port}/0", child.pid, port)

    async def huddle(
        self,
        backend_url: str,
        *,
        name: str = "node0",
        env: Mapping[str, str] | None = None,
        cores: set[int] | None = None,
    ) -> Node:
        """`huddle serve` with production defaults, except the `env` given (recorded as changes).

        The harness always sets the backend URL, the port and the JWT secret (these are the
        deployment, not tuning); any other `HUDDLE_*` from the caller's environment is dropped.
        """
        port = free_port()
        base = {k: v for k, v in os.environ.items() if not k.startswith("HUDDLE_")}
        base.update(
            HUDDLE_BACKEND_URL=backend_url,
            HUDDLE_HOST="127.0.0.1",
            HUDDLE_PORT=str(port),
            HUDDLE_JWT_SECRET=self.secret,
            HUDDLE_NODE_ID=name,
        )
        changes = dict(env or {})
        base.update(changes)
        argv, prefix = huddle_command(), None
        if self.cprofile:
            argv, prefix = self._under_cprofile(name, ["-m", "huddle.cli", "serve"])
        child = await self._start(name, argv, env=base, cores=cores)
        if prefix is not None:
            self._cprofile_prefix[child.pid] = prefix
        await self._wait_line(child, ["application startup complete"], READY_TIMEOUT)
        url = f"http://127.0.0.1:{port}"
        await wait_ready(f"{url}/readyz", child)
        return Node(url, child.pid, name, backend_url, changes)

    async def server(
        self,
        argv: Sequence[str],
        *,
        name: str,
        ready_url: str,
        env: Mapping[str, str] | None = None,
        cores: set[int] | None = None,
        ready_line: str = "application startup complete",
    ) -> Server:
        """A baseline server; ready once it printed `ready_line` and `ready_url` answers."""
        full_env = {**os.environ, **(env or {})}
        prefix = None
        if self.cprofile and len(argv) > 2 and argv[1] == "-m":
            argv, prefix = self._under_cprofile(name, argv[1:])
        child = await self._start(name, argv, env=full_env, cores=cores)
        if prefix is not None:
            self._cprofile_prefix[child.pid] = prefix
        await self._wait_line(child, [ready_line.lower()], READY_TIMEOUT)
        await wait_ready(ready_url, child)
        base = ready_url.split("/", 3)
        return Server("/".join(base[:3]), child.pid, name)

    async def spawn_worker(
        self,
        module: str,
        *,
        name: str,
        args: Sequence[str] = (),
        cores: set[int] | None = None,
    ) -> Worker:
        """`python -m module args…`: a client worker reporting JSON lines on stdout."""
        # Unbounded on purpose: a worker sends a handful of reports per phase, all awaited.
        lines: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        child = await self._start(
            name,
            [sys.executable, "-m", module, *args],
            env=env,
            cores=cores,
            stdin=True,
            lines=lines,
        )
        return Worker(child, lines)

    # -- stopping -------------------------------------------------------------------------

    def stop(self, pid: int) -> None:
        """Stop one child by pid: SIGTERM, then SIGKILL after STOP_TIMEOUT; reap it."""
        for child in list(self.children):
            if child.pid == pid:
                _terminate(child.proc)
                self.children.remove(child)

    def stop_all(self) -> None:
        """Stop every child, newest first (clients, then nodes, then Redis)."""
        for child in reversed(self.children):
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            _terminate(child.proc)
        self.children.clear()

    # -- tokens ---------------------------------------------------------------------------

    def token(
        self, user: str, org: str = "bench", workspace: str = "w1", *, admin: bool = False
    ) -> str:
        """A HS256 token the nodes accept (same claims as `huddle token`), valid one day."""
        return make_token(self.secret, user, org, workspace, admin=admin)


def _terminate(proc: asyncio.subprocess.Process) -> None:
    """Synchronous, so it also runs while the event loop is being cancelled."""
    if proc.returncode is not None:
        return
    pid = proc.pid
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _reap(pid, STOP_TIMEOUT):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _reap(pid, STOP_TIMEOUT)


def _reap(pid: int, limit: float) -> bool:
    """Wait up to `limit` seconds for `pid` to be gone (asyncio's child watcher reaps it)."""
    import time

    deadline = time.monotonic() + limit
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)  # a stopping process gives no event to wait on here
    return True


async def wait_ready(url: str, child: Child, wait: float = READY_TIMEOUT) -> None:
    """GET `url` until it answers 2xx (the node logged startup already, so this is quick)."""
    async with httpx.AsyncClient(timeout=2.0) as http:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            try:
                if (await http.get(url)).is_success:
                    return
            except httpx.HTTPError:
                pass
            if child.proc.returncode is not None or loop.time() > deadline:
                raise RuntimeError(f"{child.name}: {url} never answered 2xx\n{child.output()}")
            await asyncio.sleep(0.02)
