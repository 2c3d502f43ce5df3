"""Where the server's time goes: a profile of the process(es) under test over the measured phase.

`python -m loadtests run … --profile` asks for it; the CLI picks the tool once per invocation
(`choose`) and puts it in the run's params as `profile` ("py-spy" or "cprofile"). A scenario
wraps its measured phase (fan-out's throughput phase, the WS and REST phases of locks, …):

    async with Procs(cprofile=profiling.tool(ctx) == "cprofile") as procs:
        ...
        async with profiling.phase(ctx, procs, pids, result, "throughput", cores=plan.clients):
            ...  # the measured phase

and `result.profile["throughput"]` then holds the summary (`summarise_collapsed`,
`summarise_pstats`): the share of samples per layer (`groups`, by the file of the innermost
frame: Huddle's hub / api / services / backends / protocol, uvicorn, Starlette, websockets,
redis, the event loop, encoding and validation, logging, …), the top functions by self time and
the top by inclusive time (less the runner frames every sample has).

- **py-spy** (the default): `py-spy record --pid PID --format raw --rate 200 --function
  --nonblocking` per server process ("node0", "node1", "server"; never Redis or the clients),
  attached before the phase starts and stopped with SIGINT when it ends. It samples without
  pausing the server; its own CPU (on the client cores when `cores` is given) is recorded.
  Small collapsed-stack files are kept next to the result's JSON (`results.save`).
- **cProfile**, when py-spy may not attach (ptrace refused: containers without
  CAP_SYS_PTRACE, Yama ptrace_scope) or with `--profiler cprofile`: the servers are started
  under `loadtests.cprofile_server`, which profiles between SIGUSR1 and SIGUSR2, sent here
  around the phase. It slows every Python call, so a cProfile run's figures are not figures.

Either way time spent in C (socket writes in the uvloop transport, orjson, hiredis) counts
for the Python function that called it; py-spy leaves out samples with the server idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from .machine import REPO, pin
from .procs import Procs, _die_with_parent, cpu_of
from .results import RunResult
from .scenarios import RunContext

TOOLS: Final = ("auto", "py-spy", "cprofile")
RATE: Final = 200  # py-spy samples per second
#: py-spy's duration: an upper bound, the harness stops it with SIGINT when the phase ends.
PYSPY_LIMIT_S: Final = 3600
TOP_SELF: Final = 15
TOP_INCLUSIVE: Final = 25
#: A process's collapsed stacks are kept beside the JSON only up to this size.
RAW_LIMIT: Final = 256 * 1024
START_TIMEOUT: Final = 20.0
STOP_TIMEOUT: Final = 30.0

#: Layers, by the file of the innermost frame, first match wins; the rest is "other".
GROUPS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("baseline server", r"(^|/)loadtests/baselines/"),
        ("huddle hub", r"(^|/)huddle/hub/"),
        ("huddle api", r"(^|/)huddle/api/"),
        ("huddle services", r"(^|/)huddle/services/"),
        ("huddle backends", r"(^|/)huddle/backends/"),
        ("huddle protocol", r"(^|/)huddle/protocol/"),
        ("huddle other", r"(^|/)huddle/"),
        ("uvicorn", r"(^|/)uvicorn/"),
        ("starlette/fastapi", r"(^|/)(starlette|fastapi)/"),
        ("websockets", r"(^|/)websockets/"),
        ("redis", r"(^|/)(redis|hiredis)/"),
        ("anyio", r"(^|/)anyio/"),
        ("event loop", r"(^|/)(asyncio/|uvloop/|selectors\.py$)"),
        ("encoding/validation", r"(^|/)(json/|orjson|msgpack/|pydantic/|pydantic_core/)"),
        ("metrics/telemetry", r"(^|/)(prometheus_client|opentelemetry)/"),
        ("logging", r"(^|/)logging/"),
        ("socketio/engineio", r"(^|/)(socketio|engineio)/"),
        ("auth (jwt)", r"(^|/)(jwt/|hmac\.py$)"),
    )
)
#: The rest of the standard library (contextlib, typing, dataclasses, …), apart from "other".
STDLIB: Final = "stdlib (rest)"
GROUP_ORDER: Final = (*(name for name, _ in GROUPS), STDLIB, "other")

#: The outer frames every sample holds (the CLI, runners, the loop's dispatch): a file -> its
#: trivial functions (None: all). The inclusive list leaves them out, and in a stack every
#: frame outside the innermost of them (a baseline's `main`, …).
TRIVIAL: Final[dict[str, frozenset[str] | None]] = {
    "<frozen runpy>": None,
    "asyncio/runners.py": None,
    "asyncio/base_events.py": frozenset({"run_forever", "run_until_complete", "_run_once"}),
    "asyncio/events.py": frozenset({"_run"}),
    "uvloop/__init__.py": frozenset({"run"}),
    "uvicorn/main.py": None,
    "uvicorn/_compat.py": frozenset({"asyncio_run"}),
    "uvicorn/server.py": frozenset({"run", "serve", "_serve"}),
    "huddle/cli.py": frozenset({"main", "serve"}),
    "runpy.py": None,
    "cProfile.py": None,
    "loadtests/cprofile_server.py": None,
}

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_IDLE_BUILTINS = ("'poll' of 'select.epoll'", "'select' of 'select.", "'control' of 'select.")


# -- choosing the tool ------------------------------------------------------------------------


def pyspy_path() -> str | None:
    """py-spy beside this interpreter (the venv's), else on PATH."""
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


@functools.cache
def pyspy_refusal() -> str | None:
    """None when py-spy can read a child Python process here; else why not (its message)."""
    exe = pyspy_path()
    if exe is None:
        return "py-spy is not installed (pip install '.[bench]')"
    code = "import sys; print('ready', flush=True); sys.stdin.read()"
    with subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdin is not None
        assert child.stdout is not None
        try:
            child.stdout.readline()
            done = subprocess.run(
                [exe, "dump", "--pid", str(child.pid)], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            child.kill()
            return f"py-spy dump failed: {exc}"
        finally:
            child.stdin.close()  # the child reads EOF and exits; `with` waits for it
    if done.returncode == 0:
        return None
    said = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    return said[-1] if said else f"py-spy dump exited {done.returncode}"


def choose(requested: str = "auto") -> tuple[str, str]:
    """The tool for `--profiler requested` and why: py-spy when it may attach, else cProfile."""
    if requested == "cprofile":
        return "cprofile", "asked for (--profiler cprofile)"
    refusal = pyspy_refusal()
    if requested == "py-spy" or refusal is None:
        return "py-spy", refusal or f"{pyspy_path()} attaches here"
    return "cprofile", f"py-spy could not attach: {refusal}"


def tool(ctx: RunContext) -> str | None:
    """The tool of this run ("py-spy", "cprofile"), or None when it was not asked to profile."""
    value = ctx.params.get("profile")
    return str(value) if value else None


# -- the measured phase -----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def phase(
    ctx: RunContext,
    procs: Procs,
    pids: dict[str, int],
    result: RunResult,
    name: str,
    *,
    cores: set[int] | None = None,
) -> AsyncIterator[None]:
    """Profile the server processes among `pids` ("node…", "server") while the block runs;
    `result.profile[name]` gets the summary. Does nothing without `--profile`. A profiler that
    fails is recorded in the summary (`errors`), it never fails the run."""
    chosen = tool(ctx)
    servers = {k: p for k, p in pids.items() if k.startswith(("node", "server"))}
    if chosen is None or not servers:
        yield
        return
    session: _Session = (
        _PySpy(servers, procs, cores) if chosen == "py-spy" else _CProfile(servers, procs)
    )
    try:
        await session.start()
    except BaseException:
        session.abort()
        raise
    cpu0 = {k: cpu_of(p) for k, p in servers.items()}
    t0 = time.monotonic()
    try:
        yield
    except BaseException:
        session.abort()
        raise
    wall = time.monotonic() - t0
    entry: dict[str, Any] = {
        "tool": chosen,
        "command": session.command,
        "seconds": round(wall, 3),
        "server_cpu": {k: round((cpu_of(p) - cpu0[k]) / wall, 3) for k, p in servers.items()},
    }
    if ctx.params.get("command"):
        entry["run_command"] = ctx.params["command"]
    entry.update(await session.stop(wall))
    if entry.get("errors"):
        print(f"profile {name}: {entry['errors']}", file=sys.stderr)
    result.profile[name] = entry
    result.params["profiled"] = chosen


class _Session:
    command = ""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self, wall: float) -> dict[str, Any]:
        raise NotImplementedError

    def abort(self) -> None:
        """The phase failed: stop without a summary (synchronous, also when cancelled)."""


class _PySpy(_Session):
    def __init__(self, servers: dict[str, int], procs: Procs, cores: set[int] | None) -> None:
        self.servers = servers
        self.cores = cores
        self.dir = procs.workdir("pyspy")
        self.running: dict[str, tuple[asyncio.subprocess.Process, Path]] = {}
        self.errors: dict[str, str] = {}
        self.command = (
            f"py-spy record --pid <{'|'.join(servers)}> --format raw --rate {RATE} --function"
            f" --nonblocking --full-filenames --duration {PYSPY_LIMIT_S} (SIGINT when the phase"
            " ends)"
        )

    async def start(self) -> None:
        exe = pyspy_path()
        if exe is None:
            self.errors = {name: "py-spy is not installed" for name in self.servers}
            return
        for name, pid in self.servers.items():
            out = self.dir / f"{name}-{pid}-{time.monotonic_ns()}.txt"
            argv = [exe, "record", "--pid", str(pid), "--format", "raw", "--rate", str(RATE)]
            argv += ["--function", "--nonblocking", "--full-filenames"]
            argv += ["--duration", str(PYSPY_LIMIT_S)]
            argv += ["--output", str(out)]
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,  # "py-spy> Sampling process …" comes here
                stderr=asyncio.subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
            if self.cores:
                with contextlib.suppress(OSError):
                    pin(proc.pid, self.cores)
            self.running[name] = (proc, out)
            said = await self._sampling(proc)
            if said is not None:
                self.errors[name] = said

    @staticmethod
    async def _sampling(proc: asyncio.subprocess.Process) -> str | None:
        """Wait for py-spy's "Sampling process" line; None once it samples, else what it said."""
        assert proc.stdout is not None
        said: list[str] = []
        try:
            async with asyncio.timeout(START_TIMEOUT):
                async for raw in proc.stdout:
                    line = raw.decode(errors="replace").strip()
                    if "sampling process" in line.lower():
                        return None
                    if line:
                        said.append(line)
        except TimeoutError:
            _kill(proc)
            said.append(f"no sampling after {START_TIMEOUT} s")
            return "; ".join(said[-3:])
        code = await proc.wait()  # its output ended: py-spy exited without sampling
        return "; ".join(said[-3:]) or f"py-spy exited {code}"

    async def stop(self, wall: float) -> dict[str, Any]:
        cpu: dict[str, float] = {}
        for name, (proc, _) in self.running.items():
            cpu[name] = round(cpu_of(proc.pid) / max(wall, 1e-6), 3)
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
        texts: dict[str, list[tuple[list[str], int]]] = {}
        for name, (proc, out) in self.running.items():
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    said, _ = await proc.communicate()
            except TimeoutError:
                _kill(proc)
                self.errors.setdefault(name, f"py-spy did not stop in {STOP_TIMEOUT} s")
                continue
            finally:
                _close(proc)
            if out.exists():
                texts[name] = parse_collapsed(out.read_text(errors="replace"))
            elif name not in self.errors:
                lines = [x for x in said.decode(errors="replace").splitlines() if x.strip()]
                self.errors[name] = "; ".join(lines[-3:]) or f"py-spy exited {proc.returncode}"
        entry: dict[str, Any] = {"rate": RATE, "profiler_cpu": cpu}
        entry.update(summarise_stacks(s for stacks in texts.values() for s in stacks))
        if len(texts) > 1:
            entry["processes"] = {k: summarise_stacks(v) for k, v in texts.items()}
        kept = {k: collapsed_text(v) for k, v in texts.items()}
        small = {k: v for k, v in kept.items() if len(v.encode()) <= RAW_LIMIT}
        if small:
            entry["collapsed"] = small  # moved to files beside the JSON by results.save
        if len(small) < len(texts):
            entry["collapsed_dropped"] = f"stacks over {RAW_LIMIT // 1024} KiB not kept"
        if self.errors:
            entry["errors"] = dict(self.errors)
        return entry

    def abort(self) -> None:
        for proc, _ in self.running.values():
            _kill(proc)
            _close(proc)


class _CProfile(_Session):
    def __init__(self, servers: dict[str, int], procs: Procs) -> None:
        self.servers = servers
        self.procs = procs
        self.expect: dict[str, Path] = {}
        self.errors: dict[str, str] = {}
        self.command = (
            "python -m loadtests.cprofile_server PREFIX -m <server>: cProfile between SIGUSR1 "
            "and SIGUSR2, sent around the phase"
        )

    async def start(self) -> None:
        for name, pid in self.servers.items():
            prefix = self.procs.cprofile_prefix(pid)
            if prefix is None:
                self.errors[name] = "not started under cProfile (Procs(cprofile=True))"
                continue
            done = len(list(prefix.parent.glob(f"{prefix.name}-*.prof")))
            self.expect[name] = prefix.with_name(f"{prefix.name}-{done + 1}.prof")
            try:
                os.kill(pid, signal.SIGUSR1)
            except ProcessLookupError:
                self.errors[name] = "gone before the phase"
                del self.expect[name]

    async def stop(self, wall: float) -> dict[str, Any]:
        for name in list(self.expect):
            try:
                os.kill(self.servers[name], signal.SIGUSR2)
            except ProcessLookupError:
                self.errors[name] = "gone before the end of the phase"
                del self.expect[name]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_TIMEOUT
        while True:  # the server writes its stats when it handles SIGUSR2: no event to await
            if all(p.exists() for p in self.expect.values()) or loop.time() > deadline:
                break
            await asyncio.sleep(0.02)
        files = {k: p for k, p in self.expect.items() if p.exists()}
        for name in self.expect.keys() - files.keys():
            self.errors[name] = f"no stats written in {STOP_TIMEOUT} s"
        entry: dict[str, Any] = {}
        if files:
            entry.update(summarise_pstats(files.values()))
        if len(files) > 1:
            entry["processes"] = {k: summarise_pstats([p]) for k, p in files.items()}
        if self.errors:
            entry["errors"] = dict(self.errors)
        return entry


def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


def _close(proc: asyncio.subprocess.Process) -> None:
    """Close the pipes' transport now (as Procs does), not in a ResourceWarning later."""
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        transport.close()


# -- summaries --------------------------------------------------------------------------------


def short_path(path: str) -> str:
    """A file as py-spy shows it: from the package on (site-packages, stdlib, the repo)."""
    for marker in ("site-packages/", "dist-packages/"):
        if marker in path:
            return path.rsplit(marker, 1)[1]
    stdlib = re.search(r"/lib/python3\.\d+/(.*)$", path)
    if stdlib:
        return stdlib.group(1)
    repo = f"{REPO}/"
    if path.startswith(repo):
        return path[len(repo) :].removeprefix("src/")
    return path


def split_frame(frame: str) -> tuple[str, str]:
    """("func", "file") of a frame "func (file:line)"; ("frame", "") when it has no file."""
    m = _FRAME.match(frame)
    if m is None:
        return frame, ""
    return m.group("func"), m.group("file")


def group_of(path: str) -> str:
    """The layer a file belongs to (GROUPS), "other" when none."""
    path = short_path(path)
    for name, pattern in GROUPS:
        if pattern.search(path):
            return name
    top = re.split(r"[/.]", path.removeprefix("<frozen ").rstrip(">"), maxsplit=1)[0]
    return STDLIB if top in sys.stdlib_module_names else "other"


def trivial(frame: str) -> bool:
    """An outer frame every sample holds (runners, the event loop's dispatch, the CLI)."""
    func, path = split_frame(frame)
    if func == "<module>":
        return True
    path = short_path(path)
    for suffix, funcs in TRIVIAL.items():
        if path == suffix or path.endswith("/" + suffix):
            return funcs is None or func.rsplit(".", 1)[-1] in funcs
    return False


def _pct(count: float, total: float) -> float:
    return round(100.0 * count / total, 1) if total else 0.0


def _shares(counts: Counter[str], total: float) -> dict[str, float]:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], GROUP_ORDER.index(kv[0])))
    shares = {k: _pct(v, total) for k, v in ordered}
    return {k: v for k, v in shares.items() if v > 0}


@functools.lru_cache(maxsize=65536)
def normalise(frame: str) -> str:
    """A frame "func (/full/path/file.py:line)" with its file from the package on."""
    m = _FRAME.match(frame)
    if m is None or not m.group("file"):
        return frame
    line = f":{m.group('line')}" if m.group("line") else ""
    return f"{m.group('func')} ({short_path(m.group('file'))}{line})"


def parse_collapsed(text: str) -> list[tuple[list[str], int]]:
    """py-spy's raw format, one "outer;…;inner count" per line, as (frames, count), each
    frame `normalise`d (py-spy runs with --full-filenames: its own shortening loses the
    package of a namespace package, "trace/__init__.py" for opentelemetry's)."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            stacks.append(([normalise(f) for f in stack.split(";")], int(count)))
    return stacks


def collapsed_text(stacks: Iterable[tuple[Sequence[str], int]]) -> str:
    """Back to the raw format (flamegraph.pl, speedscope), with the short file names."""
    return "".join(f"{';'.join(frames)} {count}\n" for frames, count in stacks)


def summarise_stacks(stacks: Iterable[tuple[Sequence[str], int]]) -> dict[str, Any]:
    """Samples, the top self and inclusive frames (percent of samples) and the layer shares."""
    total = 0
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    for frames, count in stacks:
        if not frames:
            continue
        total += count
        leaf = frames[-1]
        own[leaf] += count
        groups[group_of(split_frame(leaf)[1])] += count
        outer = [i for i, f in enumerate(frames) if trivial(f) and not f.startswith("<module> ")]
        inner = frames[outer[-1] + 1 :] if outer else frames
        for frame in set(inner):
            if not trivial(frame):
                inclusive[frame] += count
    return {
        "samples": total,
        "groups": _shares(groups, total),
        "self": [[_pct(c, total), f] for f, c in own.most_common(TOP_SELF)],
        "inclusive": [[_pct(c, total), f] for f, c in inclusive.most_common(TOP_INCLUSIVE)],
    }


def summarise_collapsed(text: str) -> dict[str, Any]:
    """`summarise_stacks` of py-spy's raw output."""
    return summarise_stacks(parse_collapsed(text))


def _label(key: tuple[str, int, str]) -> str:
    path, line, func = key
    if path == "~":
        return func  # a builtin: "<method 'write' of 'uvloop.loop.UVStream' objects>"
    return f"{func} ({short_path(path)}:{line})"


def summarise_pstats(paths: Iterable[Path]) -> dict[str, Any]:
    """The same summary from cProfile stats files (merged): shares of profiled time, not of
    samples. A builtin's own time goes to its callers' layers (as py-spy counts C time in the
    calling frame); the event loop's idle wait (select/epoll) is left out."""
    stats = pstats.Stats(*(str(p) for p in paths))
    table: dict[tuple[str, int, str], Any] = stats.stats
    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    calls = 0
    for key, (_, nc, tt, ct, callers) in table.items():
        path, _, func = key
        if path == "~" and any(idle in func for idle in _IDLE_BUILTINS):
            continue
        calls += nc
        label = _label(key)
        own[label] += tt
        if not trivial(label):
            cumulative[label] += ct
        if path != "~":
            groups[group_of(path)] += tt
            continue
        edges = {c: v[2] for c, v in callers.items() if v[2] > 0}
        spread = sum(edges.values())
        if not spread:
            groups["other"] += tt
            continue
        for (caller_path, _, _), share in edges.items():
            layer = group_of(caller_path) if caller_path != "~" else "other"
            groups[layer] += tt * share / spread
    total = sum(own.values())
    return {
        "profiled_seconds": round(total, 3),
        "calls": calls,
        "groups": _shares(groups, total),
        "self": [[_pct(t, total), f] for f, t in own.most_common(TOP_SELF)],
        "inclusive": [[_pct(t, total), f] for f, t in cumulative.most_common(TOP_INCLUSIVE)],
    }
