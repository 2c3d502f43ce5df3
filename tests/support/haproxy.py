"""A real HAProxy (Debian's package) in front of Huddle nodes, running deploy/haproxy/huddle.cfg.

The tests fill the shipped file's placeholder blocks: the nodes' ports (in both backends), a
free port to bind, and a process block that logs to stderr and keeps the test's user (the
shipped one switches to the `haproxy` user, logs to syslog and allows 20,000 connections, more than
this machine's file descriptor limit). Nothing else changes.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from tests.support.deploy_files import filled
from tests.support.redis_server import free_port

MISSING: Final = "haproxy missing: `make test` installs it (apt-get install haproxy)"


def haproxy_exe() -> str:
    exe = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if exe is None:
        raise RuntimeError(MISSING)
    return exe


def write_config(home: Path, port: int, upstreams: Sequence[int]) -> Path:
    """deploy/haproxy/huddle.cfg filled in, in `home`; returns its path."""
    servers = "\n".join(
        f"server node{i} 127.0.0.1:{upstream} check inter 500ms fall 2 rise 1"
        for i, upstream in enumerate(upstreams, start=1)
    )
    home.mkdir(parents=True, exist_ok=True)
    conf = filled(
        "haproxy/huddle.cfg",
        {
            "process": "log stderr format raw local0\nmaxconn 1000",
            "bind": f"bind 127.0.0.1:{port}",
            "servers": servers,
        },
    )
    path = home / "haproxy.cfg"
    path.write_text(conf)
    return path


class HAProxy:
    """HAProxy on a free port, taking turns between `upstreams` (ports) that pass /readyz."""

    def __init__(self, home: Path, upstreams: Sequence[int]) -> None:
        exe = haproxy_exe()
        self.home = home
        self.port = free_port()
        config = write_config(home, self.port, upstreams)
        with (home / "stderr.log").open("wb") as stderr:
            self._proc = subprocess.Popen(
                [exe, "-db", "-f", str(config)], stdout=stderr, stderr=stderr
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        path = self.home / "stderr.log"
        text = path.read_text(errors="replace")[-4000:] if path.exists() else ""
        return f"--- haproxy ---\n{text}"

    def alive(self) -> bool:
        return self._proc.poll() is None

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)  # at once: a test's clients are closed
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
