"""A server under cProfile, switched on and off by the harness: the `--profile` fallback.

    python -m loadtests.cprofile_server PREFIX -m MODULE [ARGS...]

runs `python -m MODULE ARGS...` (a Huddle node: `-m huddle.cli serve`; a baseline:
`-m loadtests.baselines.raw_ws --port P`) with two signal handlers: SIGUSR1 starts a fresh
`cProfile.Profile`, SIGUSR2 stops it and writes its stats to `PREFIX-<k>.prof` (k = 1, 2, … per
stop; written to a temporary name, then renamed, so a file that exists is whole). The harness
(`profiling.py`) sends them around the measured phase, so start-up and warm-up stay out of the
profile, as they do with py-spy. Used when py-spy may not attach (ptrace refused); cProfile
slows every Python call of the profiled process, so its figures are not comparable.
"""

from __future__ import annotations

import cProfile
import os
import runpy
import signal
import sys
from pathlib import Path
from types import FrameType


def main() -> None:
    if len(sys.argv) < 4 or sys.argv[2] != "-m":
        sys.exit("usage: python -m loadtests.cprofile_server PREFIX -m MODULE [ARGS...]")
    prefix = Path(sys.argv[1])
    module, args = sys.argv[3], sys.argv[4:]
    state: dict[str, cProfile.Profile | int | None] = {"profile": None, "written": 0}

    def start(signum: int, frame: FrameType | None) -> None:
        if state["profile"] is None:
            profile = cProfile.Profile()
            state["profile"] = profile
            profile.enable()

    def stop(signum: int, frame: FrameType | None) -> None:
        profile = state["profile"]
        if not isinstance(profile, cProfile.Profile):
            return
        profile.disable()
        state["profile"] = None
        written = int(state["written"] or 0) + 1
        state["written"] = written
        final = prefix.with_name(f"{prefix.name}-{written}.prof")
        temporary = final.with_suffix(".tmp")
        profile.dump_stats(temporary)
        os.replace(temporary, final)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
