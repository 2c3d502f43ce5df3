"""`--profile`: the summaries of py-spy's collapsed stacks and of cProfile stats, the report's
"Where the time goes" section, and tiny profiled runs with each tool."""

from __future__ import annotations

import cProfile
import json
from pathlib import Path

import pytest

from loadtests import profiling
from loadtests.__main__ import main
from loadtests.report import build
from loadtests.results import RunResult, load, save

OUTER = (
    "<module> (huddle:1);main (huddle/cli.py:194);serve (huddle/cli.py:35);"
    "run (uvicorn/main.py:503);Server.run (uvicorn/server.py:85);"
    "asyncio_run (uvicorn/_compat.py:21);Runner.run (asyncio/runners.py:86)"
)
SEND = "WebSocketsSansIOProtocol.send (uvicorn/protocols/websockets/websockets_sansio_impl.py:432)"
CHANNEL = "WorkspaceChannel.run (huddle/hub/channel.py:133)"
FAN_OUT = "WorkspaceChannel._fan_out (huddle/hub/channel.py:225)"
#: 100 samples: 20 in uvloop's own C work, 50 writing frames, 20 encoding, 10 in a counter
COLLAPSED = f"""\
{OUTER} 20
{OUTER};{CHANNEL};{FAN_OUT};Connection._send_now (huddle/api/ws_connection.py:97);{SEND} 50
{OUTER};Connection.run (huddle/api/ws_connection.py:133);dumps (json/__init__.py:183) 12
{OUTER};{CHANNEL};Metrics.fanned_out (huddle/hub/metrics.py:116);MutexValue.inc (/v/lib/python3.11/site-packages/prometheus_client/values.py:27) 10
sleep (asyncio/tasks.py:637);JSONEncoder.encode (json/encoder.py:183) 8
"""  # noqa: E501


def test_collapsed_stacks_summarise_into_layers_and_top_functions() -> None:
    """Shares by the innermost frame's file; inclusive shares without the runner frames."""
    summary = profiling.summarise_collapsed(COLLAPSED)
    assert summary["samples"] == 100
    assert summary["groups"] == {
        "uvicorn": 50.0,
        "event loop": 20.0,
        "encoding/validation": 20.0,
        "metrics/telemetry": 10.0,
    }
    assert summary["self"][0] == [50.0, SEND]
    assert [20.0, "Runner.run (asyncio/runners.py:86)"] in summary["self"]
    inclusive = dict((frame, pct) for pct, frame in summary["inclusive"])
    assert inclusive[CHANNEL] == 60.0
    assert inclusive[FAN_OUT] == 50.0
    assert inclusive[SEND] == 50.0
    assert not any(profiling.trivial(frame) for frame in inclusive)
    assert not any("huddle/cli.py" in f or "uvicorn/_compat.py" in f for f in inclusive)
    # py-spy runs with --full-filenames; frames keep the file from the package on
    assert [10.0, "MutexValue.inc (prometheus_client/values.py:27)"] in summary["self"]
    assert (
        profiling.collapsed_text(profiling.parse_collapsed(COLLAPSED)).count(
            "(prometheus_client/values.py:27) 10\n"
        )
        == 1
    )


@pytest.mark.parametrize(
    ("path", "layer"),
    [
        ("huddle/hub/outbox.py", "huddle hub"),
        ("/work/main/src/huddle/backends/redis_locks.py", "huddle backends"),
        ("huddle/clock.py", "huddle other"),
        ("/srv/.venv/lib/python3.11/site-packages/redis/asyncio/client.py", "redis"),
        ("/usr/lib/python3.11/asyncio/base_events.py", "event loop"),
        ("selectors.py", "event loop"),
        ("starlette/routing.py", "starlette/fastapi"),
        ("fastapi/routing.py", "starlette/fastapi"),
        ("pydantic/main.py", "encoding/validation"),
        ("logging/__init__.py", "logging"),
        ("loadtests/baselines/raw_ws.py", "baseline server"),
        ("/v/lib/python3.11/site-packages/opentelemetry/trace/__init__.py", "metrics/telemetry"),
        ("/v/lib/python3.11/site-packages/jwt/api_jws.py", "auth (jwt)"),
        ("/usr/lib/python3.11/contextlib.py", "stdlib (rest)"),
        ("<frozen _collections_abc>", "stdlib (rest)"),
        ("<string>", "other"),
    ],
)
def test_files_fall_into_their_layer(path: str, layer: str) -> None:
    assert profiling.group_of(path) == layer


def test_cprofile_stats_summarise_with_builtins_charged_to_their_caller(tmp_path: Path) -> None:
    """The C encoder's time counts for json/encoder.py, which called it."""
    data = {"k": list(range(200)), "s": "x" * 200}
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(2000):
        json.dumps(data)
    profile.disable()
    profile.dump_stats(tmp_path / "p.prof")
    summary = profiling.summarise_pstats([tmp_path / "p.prof"])
    assert summary["calls"] > 2000
    assert summary["profiled_seconds"] > 0
    assert summary["groups"]["encoding/validation"] > 50
    assert 99 <= sum(summary["groups"].values()) <= 101
    assert any("json/encoder.py" in frame for _, frame in summary["self"])


def test_auto_falls_back_to_cprofile_where_pyspy_may_not_attach(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ptrace refused (py-spy's own message): cProfile, and the reason is kept."""
    refused = "Permission Denied: Try running again with elevated permissions"
    monkeypatch.setattr(profiling, "pyspy_refusal", lambda: refused)
    assert profiling.choose("auto") == ("cprofile", f"py-spy could not attach: {refused}")
    assert profiling.choose("cprofile")[0] == "cprofile"
    assert profiling.choose("py-spy") == ("py-spy", refused)  # asked for: tried, errors kept
    monkeypatch.setattr(profiling, "pyspy_refusal", lambda: None)
    assert profiling.choose("auto")[0] == "py-spy"


def test_profiler_without_profile_is_bad_usage() -> None:
    assert main(["run", "fanout", "--quick", "--profiler", "cprofile"]) == 2


def _profiled_run(started: str, **profile: object) -> RunResult:
    return RunResult(
        scenario="fanout",
        target="huddle",
        transport="ws-json",
        backend="memory",
        nodes=1,
        n=200,
        rep=1,
        params={"group": "run1/ws-json/memory/200/1", "profiled": "py-spy"},
        figures={"delivered_per_s": 50_000.0, "p99_ms": 3.0},
        counters={"lost": 0},
        cpu={"node0": 0.97},
        checks={"connect": "ok"},
        started_at=started,
        run_id="run1",
        profile={"throughput": dict(profile)},
    )


def test_report_shows_where_the_time_goes_from_fixture_json(tmp_path: Path) -> None:
    """The latest profile of a case: the command, layer shares, top self functions; its
    collapsed stacks are written beside the JSON and named on the page."""
    summary = profiling.summarise_collapsed(COLLAPSED)
    command = "python -m loadtests run fanout --n 200 --profile"
    old = _profiled_run("2025-01-01T00:00:00+0000", tool="py-spy", run_command="old", **summary)
    new = _profiled_run(
        "2025-01-01T00:01:00+0000",
        tool="py-spy",
        command="py-spy record --pid <node0> --format raw --rate 200",
        run_command=command,
        rate=200,
        seconds=1.0,
        profiler_cpu={"node0": 0.1},
        collapsed={"node0": COLLAPSED},
        **summary,
    )
    results = tmp_path / "results"
    for r in (old, new):
        save(r, results)
    stacks = sorted(results.glob("*.pyspy.txt"))
    assert [p.read_text() for p in stacks] == [COLLAPSED]
    runs = load(results)
    stored = runs[-1].profile["throughput"]
    assert "collapsed" not in stored
    assert stored["collapsed_files"] == [stacks[0].name]

    text = build(runs, tmp_path / "benchmarks.md", tmp_path / "png")
    section = text.split("## Where the time goes", 1)[1].split("## Failed runs", 1)[0]
    assert section.count("### fanout: huddle, ws-json, memory, N = 200") == 1
    assert f"`{command}`" in section
    assert "`old`" not in section
    assert "py-spy, 100 samples at 200 Hz over 1.00 s" in section
    assert "| layer | node0 |" in section
    assert "| uvicorn | 50.0 % |" in section
    assert section.index("| uvicorn |") < section.index("| metrics/telemetry |")  # largest first
    assert f"| 50.0 % | `{SEND}` |" in section
    assert "delivered/s 50,000" in section
    assert stacks[0].name in section
    fanout = text.split("## 1. Fan-out", 1)[1].split("\n## ", 1)[0]
    assert "Not measured yet." in fanout  # a profiled run's figures stay out of the tables


def test_report_without_profiles_says_so(tmp_path: Path) -> None:
    text = build([], tmp_path / "benchmarks.md", tmp_path / "png")
    assert "## Where the time goes" in text
    assert "No profiled run stored yet" in text


@pytest.mark.xdist_group("loadtests")
def test_quick_fanout_with_profile_records_samples_of_the_tool_chosen(tmp_path: Path) -> None:
    """A tiny fan-out with --profile: node0 sampled over the throughput phase by py-spy, or by
    cProfile where py-spy may not attach (ptrace refused): never skipped."""
    tool = "py-spy" if profiling.pyspy_refusal() is None else "cprofile"
    code = main(
        ["run", "fanout", "--quick", "--no-live", "--n", "5", "--events", "1500",
         "--target", "huddle", "--transport", "ws-json", "--profile",
         "--results", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    (run,) = load(tmp_path)
    entry = run.profile["throughput"]
    assert entry["tool"] == tool
    assert not entry.get("errors")
    assert entry["samples" if tool == "py-spy" else "calls"] > 0
    assert any(layer.startswith("huddle ") for layer in entry["groups"])
    assert entry["self"]
    assert entry["run_command"].startswith("python -m loadtests run fanout")
    assert run.params["profiled"] == tool


@pytest.mark.xdist_group("loadtests")
def test_quick_locks_with_cprofile_profiles_both_phases(tmp_path: Path) -> None:
    """The fallback forced: the node runs under cProfile, switched on for the WS and the
    REST phase; each gets its own summary."""
    code = main(
        ["run", "locks", "--quick", "--no-live", "--backend", "memory", "--reps", "1",
         "--profile", "--profiler", "cprofile", "--results", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    (run,) = load(tmp_path)
    assert run.passed, run.failures
    assert set(run.profile) == {"ws", "rest"}
    for entry in run.profile.values():
        assert entry["tool"] == "cprofile"
        assert not entry.get("errors")
        assert entry["calls"] > 0
        assert any(layer.startswith("huddle ") for layer in entry["groups"])
