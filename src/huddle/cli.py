"""`huddle serve | token | check | apikey create`: the operator's entry points.

Every option of `serve` is also a `HUDDLE_*` environment variable; a flag wins over the
environment, which wins over the default.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import ValidationError

from . import __version__
from .auth import issue_token, resolve_jwt_secret, resolve_operator_key
from .backends import open_backend
from .config import Settings, mask_password
from .errors import BackendUnavailable, ConfigError

DEV_USER, DEV_ORG, DEV_WORKSPACE = "ana", "acme", "ws1"

# Every URL `backends.open_backend` accepts; docs/operations.md explains each option.
BACKEND_FORMS = """\
backend URLs (--backend, HUDDLE_BACKEND_URL):
  memory://
      one process, nothing shared (development and tests)
  redis://[[user]:password@]host:port[/db]
      Redis over TCP
  rediss://...?ssl_ca_certs=&ssl_certfile=&ssl_keyfile=&ssl_cert_reqs=
      Redis over TLS (same form as redis://): the CA file that signed Redis's certificate,
      a client certificate and its key when Redis requires one (tls-auth-clients yes),
      ssl_cert_reqs=required (default), or none to skip verification (tests only)
  unix:///path/to/redis.sock[?db=N]
      Redis on a unix socket
"""


def _settings(args: argparse.Namespace, **names: str) -> Settings:
    overrides: dict[str, Any] = {
        setting: getattr(args, flag)
        for flag, setting in names.items()
        if getattr(args, flag, None) is not None
    }
    return Settings(**overrides)


def serve(args: argparse.Namespace) -> int:
    settings = _settings(
        args,
        host="host",
        port="port",
        backend="backend_url",
        log_level="log_level",
        workers="workers",
    )
    if args.listen_fd is not None:  # a worker of `huddle serve --workers N`
        from .workers import exit_with_supervisor

        if args.supervisor_fd is not None:
            exit_with_supervisor(args.supervisor_fd)
        return _run_node(settings, socket.socket(fileno=args.listen_fd))
    if settings.workers > 1:
        from .workers import supervise

        return supervise(settings)
    return _run_node(settings, None)


def _run_node(settings: Settings, listening: socket.socket | None) -> int:
    """Serve one node: on `listening` (a worker's inherited socket) or on its own."""
    import uvicorn

    from .app import create_app
    from .server import AFTER_DRAIN, HuddleServer, guarded_protocols

    app = create_app(settings)
    if listening is None:
        _banner(settings)
    http_protocol, ws_protocol = guarded_protocols(settings, app)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        loop="uvloop",
        http=http_protocol,
        ws=ws_protocol,
        ws_max_size=settings.max_body_bytes,
        ws_per_message_deflate=False,
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=AFTER_DRAIN,
    )
    HuddleServer(config, app).run(sockets=None if listening is None else [listening])
    return 0


def _banner(settings: Settings) -> None:
    base = f"http://{settings.host}:{settings.port}"
    backend = mask_password(settings.backend_url)
    print(f"Huddle {base}  backend {backend}  API docs {base}/docs", flush=True)
    if settings.demo_enabled:
        print(f"Live demo {base}/demo/  (open it in two windows, as two people)", flush=True)
    if settings.is_memory:
        secret = resolve_jwt_secret(settings)
        assert secret is not None
        token = issue_token(
            secret,
            user_id=DEV_USER,
            org_id=DEV_ORG,
            workspace_id=DEV_WORKSPACE,
            admin=True,
            name="Ana",
            ttl=86_400,
        )
        print(
            f"Dev token (user {DEV_USER}, org {DEV_ORG}, workspace {DEV_WORKSPACE}, admin, 24 h):"
            f"\n  export TOKEN={token}\n"
            f'  curl -H "Authorization: Bearer $TOKEN" {base}/v1/collaboration/locks/my-locks',
            flush=True,
        )
        operator = resolve_operator_key(settings, None if settings.jwt_secret else secret)
        if operator is not None:
            print(
                "Operator key (creates WorkDrive organizations: POST /api/organization):"
                f"\n  export OPERATOR_KEY={operator}",
                flush=True,
            )


def token(args: argparse.Namespace) -> int:
    settings = Settings()
    secret = resolve_jwt_secret(settings)
    if secret is None:
        raise ConfigError("`huddle token` signs with HUDDLE_JWT_SECRET, which is not set")
    print(
        issue_token(
            secret,
            user_id=args.user,
            org_id=args.org,
            workspace_id=args.workspace,
            admin=args.admin,
            name=args.name,
            ttl=args.ttl,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
        )
    )
    return 0


def check(args: argparse.Namespace) -> int:
    from .app import create_app

    settings = _settings(args, backend="backend_url")
    create_app(settings)  # every check a node makes before it serves
    print(f"config ok: backend {mask_password(settings.backend_url)}")

    async def verify() -> None:
        async with open_backend(settings) as backend:
            await backend.verify()

    asyncio.run(verify())
    print("backend ok: reachable; scripts, keys and channels usable")
    return 0


def apikey_create(args: argparse.Namespace) -> int:
    settings = Settings()
    secret = resolve_jwt_secret(settings)
    if secret is None:
        raise ConfigError("`huddle apikey` signs its admin call with HUDDLE_JWT_SECRET")
    node = args.node or f"http://{settings.host}:{settings.port}"
    admin = issue_token(
        secret,
        user_id=args.as_user,
        org_id=args.org,
        workspace_id=args.workspace,
        admin=True,
        ttl=60,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
    body = {
        "user_id": args.user,
        "workspace_id": args.workspace,
        "admin": args.admin,
        "name": args.name,
    }
    try:
        answer = httpx.post(
            f"{node}/v1/orgs/{args.org}/api-keys",
            json=body,
            headers={"Authorization": f"Bearer {admin}"},
            timeout=10,
        )
    except httpx.HTTPError as exc:
        print(f"huddle: cannot reach the node at {node}: {exc}", file=sys.stderr)
        return 1
    if answer.status_code != 201:
        print(f"huddle: the node answered {answer.status_code}: {answer.text}", file=sys.stderr)
        return 1
    created = answer.json()
    print(created["key"])
    print(f"id {created['id']} (the key is shown only this once)", file=sys.stderr)
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="huddle", description=__doc__.splitlines()[0])
    root.add_argument("--version", action="version", version=f"huddle {__version__}")
    commands = root.add_subparsers(dest="command", required=True)

    p = commands.add_parser(
        "serve",
        help="start a node (HUDDLE_* variables configure it)",
        epilog=BACKEND_FORMS,
        formatter_class=argparse.RawDescriptionHelpFormatter,  # keeps each form on its line
    )
    p.add_argument("--host", help="interface to bind (HUDDLE_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to bind (HUDDLE_PORT, default 8000)")
    p.add_argument(
        "--backend",
        metavar="URL",
        help="a backend URL of a form below (HUDDLE_BACKEND_URL, default memory://)",
    )
    p.add_argument("--log-level", help="critical|error|warning|info|debug (HUDDLE_LOG_LEVEL)")
    p.add_argument(
        "--workers",
        type=int,
        help="worker processes on the one port, each a node with these settings, restarted"
        " if it dies, drained on SIGTERM; redis:// only (HUDDLE_WORKERS, default 1)",
    )
    # Internal: how the supervisor of `--workers` starts each worker.
    p.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)
    p.add_argument("--supervisor-fd", type=int, help=argparse.SUPPRESS)
    p.set_defaults(run=serve)

    p = commands.add_parser("token", help="print a signed JWT for one user of one workspace")
    p.add_argument("--user", required=True)
    p.add_argument("--org", required=True)
    p.add_argument("--workspace", required=True)
    p.add_argument("--admin", action="store_true", help="grant the admin role")
    p.add_argument("--name", help="display name shown to other users")
    p.add_argument("--ttl", type=float, default=3600.0, help="seconds of validity (3600)")
    p.set_defaults(run=token)

    p = commands.add_parser(
        "check",
        help="validate the configuration and reach the backend",
        epilog=BACKEND_FORMS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--backend", metavar="URL", help="backend URL to check (HUDDLE_BACKEND_URL)")
    p.set_defaults(run=check)

    p = commands.add_parser("apikey", help="manage API keys through a running node")
    keys = p.add_subparsers(dest="apikey_command", required=True)
    p = keys.add_parser("create", help="create a key; prints it (shown only once)")
    p.add_argument("--org", required=True)
    p.add_argument("--workspace", required=True, help="the key's default workspace")
    p.add_argument("--user", help="the user the key acts as (omit: a service key)")
    p.add_argument("--admin", action="store_true", help="an admin key (all org workspaces)")
    p.add_argument("--name", help="a label for the key")
    p.add_argument("--node", help="node URL (default http://HUDDLE_HOST:HUDDLE_PORT)")
    p.add_argument("--as-user", default="huddle-cli", help="admin user id recorded as creator")
    p.set_defaults(run=apikey_create)
    return root


def setting_errors(exc: ValidationError) -> list[str]:
    """One line per refused setting, named as the environment names it."""
    lines = []
    for error in exc.errors(include_url=False):
        name = f"HUDDLE_{str(error['loc'][0]).upper()}" if error["loc"] else "(settings)"
        lines.append(f"{name}: {error['msg']}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except ConfigError as exc:
        print(f"huddle: configuration error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        for line in setting_errors(exc):
            print(f"huddle: invalid setting {line}", file=sys.stderr)
        return 2
    except BackendUnavailable as exc:
        print(f"huddle: backend unreachable: {exc.message}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
