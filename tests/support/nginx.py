"""A real nginx (Debian's package) in front of Huddle nodes, as production runs them.

The proxy streams (no buffering, long read timeout), passes WebSocket upgrades, and fails over
to the next node when one refuses connections. Its access log leaves query strings out: a
stream ticket in a URL must not land in a proxy's log either (docs/operations.md).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from tests.support.redis_server import free_port

MISSING: Final = "nginx missing: `make test` installs it (apt-get install nginx-light)"

_CONF: Final = """\
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
    log_format no_query '$remote_addr "$request_method $uri" $status $upstream_addr';
    access_log {home}/access.log no_query;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
    upstream huddle {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://huddle;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_buffering off;
            proxy_read_timeout 1h;
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout;
        }}
    }}
}}
"""


class Nginx:
    """nginx on a free port proxying to `upstreams` (ports); with `failover`, every request
    goes to the first node while it answers, to the next when it does not (a standby)."""

    def __init__(self, home: Path, upstreams: Sequence[int], *, failover: bool = True) -> None:
        exe = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
        if exe is None:
            raise RuntimeError(MISSING)
        self.home = home
        self.port = free_port()
        home.mkdir(parents=True, exist_ok=True)
        lines = []
        for i, upstream in enumerate(upstreams):
            backup = " backup" if failover and i > 0 else ""
            lines.append(
                f"        server 127.0.0.1:{upstream} max_fails=1 fail_timeout=2s{backup};"
            )
        conf = _CONF.format(home=home, port=self.port, servers="\n".join(lines))
        (home / "nginx.conf").write_text(conf)
        with (home / "stderr.log").open("wb") as stderr:
            self._proc = subprocess.Popen(
                [exe, "-p", str(home), "-c", str(home / "nginx.conf")],
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
