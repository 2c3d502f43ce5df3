"""Real Huddle nodes for end-to-end tests: `huddle serve` child processes on free ports.

A `HuddleNode` is the installed `huddle` console script run with `subprocess`, exactly as an
operator starts one: its own working directory, a `HUDDLE_*` environment built here (nothing
inherited from the test run's own `HUDDLE_*` variables), stdout and stderr in a log file that
failing tests show. It is ready once `/healthz` answers, polled with a deadline; `stop()` is a
graceful SIGTERM, `kill()` a crash (SIGKILL).

`NodeFactory` starts the nodes of one test, all on one Redis key prefix by default (so they
share state with each other and with nobody else), and tears every one of them down.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final
from uuid import uuid4

import httpx

from huddle.auth import issue_token
from tests.support.redis_server import free_port, unique_prefix
from tests.support.waiting import wait_until

SECRET: Final = "e2e-secret-0123456789abcdef-0123456789"
"""The HUDDLE_JWT_SECRET of every node started with the default `jwt_secret`."""

HUDDLE_EXE: Final = Path(sys.executable).with_name("huddle")
READY_TIMEOUT: Final = 20.0
STOP_TIMEOUT: Final = 10.0
_BIND_FAILED = re.compile(r"address already in use|error while attempting to bind", re.I)
# `make test` sets PYTHONASYNCIODEBUG for the test process; a node is the product under test
# and runs as in production (debug mode slows every callback and only logs).
_DROPPED_ENV: Final = ("PYTHONASYNCIODEBUG",)


class NodeFailed(RuntimeError):
    """A node exited or did not become ready; its log is in the message."""


def bearer(
    user: str = "ana",
    *,
    org: str = "acme",
    workspace: str = "ws1",
    admin: bool = False,
    name: str | None = None,
    ttl: float = 600,
    secret: str = SECRET,
) -> dict[str, str]:
    """An `Authorization` header with a token every default node accepts."""
    token = issue_token(
        secret, user_id=user, org_id=org, workspace_id=workspace, admin=admin, name=name, ttl=ttl
    )
    return {"Authorization": f"Bearer {token}"}


def child_env(settings: Mapping[str, str]) -> dict[str, str]:
    """The environment of a child `huddle` process: ours without any `HUDDLE_*` variable
    (a developer's shell must not leak into a test), plus `settings`."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("HUDDLE_") and k not in _DROPPED_ENV
    }
    env.update(settings)
    return env


def huddle_command() -> list[str]:
    if not HUDDLE_EXE.exists():
        raise NodeFailed(f"{HUDDLE_EXE} missing: install the project (`make test` does)")
    return [str(HUDDLE_EXE)]


class HuddleNode:
    """One `huddle serve` process. Use `NodeFactory.start`, which waits until it is ready."""

    def __init__(
        self,
        name: str,
        backend: str,
        env: Mapping[str, str],
        cwd: Path,
        args: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.backend = backend
        self.args = list(args)
        """More `huddle serve` arguments (`["--workers", "2"]`)."""
        self.node_id = f"{name}-{uuid4().hex[:8]}"
        self.cwd = cwd
        self.log_path = cwd / f"node-{name}.log"
        self.port = 0
        self._env = child_env({**env, "HUDDLE_NODE_ID": self.node_id, "PYTHONFAULTHANDLER": "1"})
        self._proc: subprocess.Popen[bytes] | None = None
        self._attempts = 0
        self.hung_on_stop = False
        """True when SIGTERM did not end the process within STOP_TIMEOUT."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._proc is not None, "node not started"
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log(self) -> str:
        """Everything the process wrote to stdout and stderr, over all its attempts."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def client(self, headers: Mapping[str, str] | None = None, **kwargs: Any) -> httpx.AsyncClient:
        """An HTTP client for this node (close it, or use it with `async with`)."""
        kwargs.setdefault("timeout", 10.0)
        return httpx.AsyncClient(base_url=self.url, headers=dict(headers or {}), **kwargs)

    def launch(self, *, same_port: bool = False) -> None:
        """Start the process on a fresh free port (or, `same_port`, the one it had: a restart
        clients reconnect to); returns at once (see `wait_ready`)."""
        if not same_port or not self.port:
            self.port = free_port()
        self._attempts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- attempt {self._attempts}: port {self.port} ---\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                [
                    *huddle_command(),
                    "serve",
                    "--port",
                    str(self.port),
                    "--backend",
                    self.backend,
                    *self.args,
                ],
                cwd=self.cwd,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(self, within: float = READY_TIMEOUT) -> None:
        """Poll `/healthz` until this process answers it, for up to `within` seconds.

        A port taken between `free_port()` and uvicorn's bind makes the process exit; it is
        relaunched on another port (twice at most). The answer is checked to come from this
        process (its node id on `/readyz`), not from another test's node on a reused port.
        """
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                try:
                    await wait_until(
                        lambda: self._answers_healthz(http),
                        within=within,
                        what=f"node {self.name} ({self.url}) to answer /healthz",
                        interval=0.05,
                    )
                    if await self._is_us(http):
                        return
                    raise NodeFailed("another process answers on our port")
                except NodeFailed:
                    if self._attempts < 3 and self._lost_the_port():
                        self.launch()
                        continue
                    self.kill()
                    raise NodeFailed(self._failure("did not start")) from None
                except AssertionError as exc:
                    self.kill()
                    raise NodeFailed(self._failure(str(exc))) from None

    async def _answers_healthz(self, http: httpx.AsyncClient) -> bool:
        if not self.alive:
            raise NodeFailed(f"exited with {self.returncode}")
        try:
            answer = await http.get(f"{self.url}/healthz")
        except httpx.TransportError:
            return False
        return answer.status_code == 200

    async def _is_us(self, http: httpx.AsyncClient) -> bool:
        try:
            answer = await http.get(f"{self.url}/readyz")
            if answer.status_code != 200:
                return self.alive  # backend down at start: only liveness can tell
            node = answer.json().get("node")
            # a worker of `--workers N` is `<node id>-w<i>`
            return node == self.node_id or str(node).startswith(f"{self.node_id}-w")
        except (httpx.TransportError, ValueError):
            return False

    def _lost_the_port(self) -> bool:
        if self.alive:
            self.kill()
            return True  # someone else answered on our port
        return _BIND_FAILED.search(self.log().rpartition("--- attempt")[2]) is not None

    def _failure(self, what: str) -> str:
        return (
            f"huddle node {self.name} on {self.url} {what} (exit code {self.returncode});"
            f" log {self.log_path}:\n{self.log()}"
        )

    async def restart(self) -> None:
        """Crash the process (SIGKILL) and start it again on the same port, ready."""
        self.kill()
        self._attempts = 0
        self.launch(same_port=True)
        await self.wait_ready()

    def kill(self) -> None:
        """SIGKILL, as a crash: no shutdown code runs. Returns once the process is gone."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
        if self._proc is not None:
            self._proc.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> int | None:
        """SIGTERM and wait for the exit; the exit code. A node still running STOP_TIMEOUT
        seconds later is marked `hung_on_stop`, gets SIGABRT (its stacks go to the log) and,
        if need be, SIGKILL."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.hung_on_stop = True
                # PYTHONFAULTHANDLER is set: SIGABRT writes every thread's stack to the log.
                self._proc.send_signal(signal.SIGABRT)
                try:
                    self._proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.kill()
        return self._proc.returncode


class NodeFactory:
    """Starts the nodes of one test, each in its own directory under `root`; `close()` ends
    them all. Nodes share `prefix` (one Redis key prefix per test) unless told otherwise."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.prefix = unique_prefix()
        self.nodes: list[HuddleNode] = []

    def create(
        self,
        backend: str,
        *,
        name: str | None = None,
        jwt_secret: str | None = SECRET,
        cwd: Path | None = None,
        args: Sequence[str] = (),
        **settings: object,
    ) -> HuddleNode:
        """A node not yet started. `settings` become `HUDDLE_<NAME>` variables
        (`presence_ttl=1` -> `HUDDLE_PRESENCE_TTL=1`); `args` more `huddle serve` arguments."""
        name = name or f"n{len(self.nodes) + 1}"
        env = {"HUDDLE_REDIS_PREFIX": self.prefix}
        if jwt_secret is not None:
            env["HUDDLE_JWT_SECRET"] = jwt_secret
        env.update({f"HUDDLE_{key.upper()}": str(value) for key, value in settings.items()})
        if cwd is None:
            cwd = self.root / name
        cwd.mkdir(parents=True, exist_ok=True)
        node = HuddleNode(name, backend, env, cwd, args)
        self.nodes.append(node)
        return node

    async def start(self, backend: str, **kwargs: Any) -> HuddleNode:
        """Start a node and return it once it answers `/healthz` (see `create`)."""
        node = self.create(backend, **kwargs)
        node.launch()
        await node.wait_ready()
        return node

    def logs(self) -> str:
        return "\n".join(f"===== node {n.name} ({n.log_path}) =====\n{n.log()}" for n in self.nodes)

    def close(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL if it hangs); never leaves a process."""
        for node in self.nodes:
            node.stop()


async def read_events(
    client: httpx.AsyncClient, org: str = "acme", workspace: str = "ws1"
) -> list[dict[str, Any]]:
    """The workspace's whole event log through `GET .../sync/events`, oldest first, paging
    with `after` = `next` until a page is empty. The client must be authorised for it."""
    url = f"/v1/orgs/{org}/workspaces/{workspace}/sync/events"
    events: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if after is not None:
            params["after"] = after
        answer = await client.get(url, params=params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert not page["reset"], f"the log was reset while reading it: {page}"
        if not page["events"]:
            return events
        events.extend(page["events"])
        after = page["next"]


class CliResult:
    """What one `huddle ...` command did: its exit code and its output, decoded."""

    def __init__(self, args: list[str], returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.args = args
        self.returncode = returncode
        self.stdout = stdout.decode(errors="replace")
        self.stderr = stderr.decode(errors="replace")

    def __repr__(self) -> str:
        return (
            f"huddle {' '.join(self.args)} -> exit {self.returncode}\n"
            f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        )


async def run_huddle(
    *args: str, cwd: Path, settings: Mapping[str, str] | None = None, within: float = 30.0
) -> CliResult:
    """Run the `huddle` command to its end (killed and failed after `within` seconds), in
    `cwd`, with `settings` as its only `HUDDLE_*` variables."""
    proc = await asyncio.create_subprocess_exec(
        *huddle_command(),
        *args,
        cwd=cwd,
        env=child_env(settings or {}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(within):
            stdout, stderr = await proc.communicate()
    except TimeoutError:
        proc.kill()
        stdout, stderr = await proc.communicate()
        raise AssertionError(
            f"`huddle {' '.join(args)}` still running after {within} s:\n"
            f"{stdout.decode(errors='replace')}\n{stderr.decode(errors='replace')}"
        ) from None
    assert proc.returncode is not None
    return CliResult(list(args), proc.returncode, stdout, stderr)
