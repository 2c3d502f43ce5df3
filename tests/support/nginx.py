"""A real nginx (Debian's package) in front of Huddle nodes, running deploy/nginx/huddle.conf.

The shipped file is an `http`-context include; the tests fill its placeholder blocks (the
nodes' ports, a free port to listen on, a log in the test's directory) and wrap it in the
smallest main configuration that runs nginx unprivileged in the foreground: temporary paths
in the test's directory, nothing else. What the proxy does (streaming, upgrades, failover,
logs without query strings) is therefore exactly what deploy/ ships.
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

MISSING: Final = "nginx missing: `make test` installs it (apt-get install nginx-light)"

_MAIN: Final = """\
user root;
worker_processes 1;
daemon off;
pid {home}/nginx.pid;
error_log {home}/error.log info;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {home}/body;
    proxy_temp_path {home}/proxy;
    fastcgi_temp_path {home}/fastcgi;
    uwsgi_temp_path {home}/uwsgi;
    scgi_temp_path {home}/scgi;
    include {home}/huddle.conf;
}}
"""


def nginx_exe() -> str:
    exe = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if exe is None:
        raise RuntimeError(MISSING)
    return exe


def write_config(
    home: Path, port: int, upstreams: Sequence[int], *, failover: bool = False
) -> Path:
    """deploy/nginx/huddle.conf filled in and wrapped in `home`; returns the main file."""
    lines = []
    for i, upstream in enumerate(upstreams):
        backup = " backup" if failover and i > 0 else ""
        lines.append(f"server 127.0.0.1:{upstream} max_fails=1 fail_timeout=2s{backup};")
    home.mkdir(parents=True, exist_ok=True)
    conf = filled(
        "nginx/huddle.conf",
        {
            "upstreams": "\n".join(lines),
            "listen": f"listen 127.0.0.1:{port};",
            "access_log": f"access_log {home}/access.log huddle_no_query;",
        },
    )
    (home / "huddle.conf").write_text(conf)
    main = home / "nginx.conf"
    main.write_text(_MAIN.format(home=home))
    return main


class Nginx:
    """nginx on a free port proxying to `upstreams` (ports); with `failover`, every request
    goes to the first node while it answers, to the next when it does not (a standby);
    without it, requests take turns (round robin)."""

    def __init__(self, home: Path, upstreams: Sequence[int], *, failover: bool = True) -> None:
        exe = nginx_exe()
        self.home = home
        self.port = free_port()
        main = write_config(home, self.port, upstreams, failover=failover)
        with (home / "stderr.log").open("wb") as stderr:
            self._proc = subprocess.Popen(
                [exe, "-p", str(home), "-c", str(main)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        parts = []
        for name in ("stderr.log", "error.log", "access.log"):
            path = self.home / name
            if path.exists():
                parts.append(f"--- nginx {name} ---\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)

    def access_log(self) -> str:
        path = self.home / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def alive(self) -> bool:
        return self._proc.poll() is None

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGQUIT)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
