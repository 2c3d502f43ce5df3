"""The operator's commands, run as installed: `huddle token | check | apikey create | serve`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import huddle
from huddle.backends import backend_scheme
from huddle.errors import ConfigError
from tests.support.nodes import SECRET, NodeFactory, run_huddle
from tests.support.redis_server import RedisServer, free_port

pytestmark = pytest.mark.xdist_group("e2e")

JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
DEV_TOKEN = re.compile(r"export TOKEN=(\S+)")


async def test_token_command_prints_a_jwt_the_node_accepts(
    nodes: NodeFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    """`huddle token` signs with HUDDLE_JWT_SECRET a token a node with that secret accepts."""
    node = await nodes.start(redis_server.url())
    result = await run_huddle(
        "token", "--user", "ana", "--org", "acme", "--workspace", "ws1",
        cwd=tmp_path, settings={"HUDDLE_JWT_SECRET": SECRET},
    )  # fmt: skip
    assert result.returncode == 0, result
    token = result.stdout.strip()
    assert JWT.fullmatch(token), result

    async with node.client({"Authorization": f"Bearer {token}"}) as http:
        taken = await http.post("/v1/collaboration/locks/deal/42")
        assert taken.status_code == 200, taken.text
        assert taken.json()["holder"]["userId"] == "ana"
        mine = await http.get("/v1/collaboration/locks/my-locks")
        assert mine.status_code == 200, mine.text
        assert [lock["entityId"] for lock in mine.json()["locks"]] == ["42"]
        forged = await http.get(
            "/v1/collaboration/locks/my-locks", headers={"Authorization": f"Bearer {token}x"}
        )
        assert forged.status_code == 401, forged.text


async def test_check_exits_zero_with_a_reachable_backend_and_nonzero_with_a_stopped_one(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    """`huddle check` reaches the backend: 0 when Redis answers, a clear failure when not."""
    settings = {"HUDDLE_BACKEND_URL": private_redis.url(), "HUDDLE_JWT_SECRET": SECRET}
    up = await run_huddle("check", cwd=tmp_path, settings=settings)
    assert up.returncode == 0, up
    assert "backend ok" in up.stdout, up

    private_redis.stop()
    down = await run_huddle("check", cwd=tmp_path, settings=settings)
    assert down.returncode != 0, down
    assert "backend unreachable" in down.stderr, down
    assert "Traceback" not in down.stderr, down


async def test_redis_node_without_jwt_secret_refuses_to_start(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """A shared-backend node never runs on a generated dev secret: no secret, no start."""
    port = str(free_port())
    result = await run_huddle(
        "serve", "--port", port, "--backend", redis_server.url(), cwd=tmp_path, within=20
    )
    assert result.returncode != 0, result
    assert "HUDDLE_JWT_SECRET" in result.stderr, result
    assert "Traceback" not in result.stderr, result
    assert not (tmp_path / ".huddle").exists(), "a redis:// node wrote a dev secret"


async def test_apikey_create_prints_a_key_that_works_as_x_api_key(
    nodes: NodeFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    """`huddle apikey create` asks the node for a key; the 64-hex key it prints then acts as
    its user on that node."""
    node = await nodes.start(redis_server.url())
    result = await run_huddle(
        "apikey", "create", "--org", "acme", "--workspace", "ws1", "--user", "bot",
        "--node", node.url,
        cwd=tmp_path, settings={"HUDDLE_JWT_SECRET": SECRET},
    )  # fmt: skip
    assert result.returncode == 0, result
    key = result.stdout.strip()
    assert HEX64.fullmatch(key), result

    async with node.client({"X-API-KEY": key}) as http:
        taken = await http.post("/v1/collaboration/locks/deal/42")
        assert taken.status_code == 200, taken.text
        assert taken.json()["holder"]["userId"] == "bot"
        wrong = await http.get("/v1/collaboration/locks/my-locks", headers={"X-API-KEY": "0" * 64})
        assert wrong.status_code == 401, wrong.text


async def test_memory_node_without_secret_shares_its_dev_secret_with_huddle_token(
    nodes: NodeFactory, tmp_path: Path
) -> None:
    """In memory mode without HUDDLE_JWT_SECRET, `serve` generates `.huddle/dev-secret` in its
    working directory and prints a dev token; `huddle token` run there signs with the same
    secret, so both tokens work against the node."""
    cwd = tmp_path / "project"
    node = await nodes.start("memory://", name="dev", jwt_secret=None, cwd=cwd)
    assert (cwd / ".huddle" / "dev-secret").is_file()
    printed = DEV_TOKEN.search(node.log())
    assert printed is not None, node.log()

    result = await run_huddle(
        "token", "--user", "ben", "--org", "acme", "--workspace", "ws1", cwd=cwd
    )
    assert result.returncode == 0, result
    ben = result.stdout.strip()
    assert JWT.fullmatch(ben), result

    async with node.client() as http:
        for token, user in ((printed.group(1), "ana"), (ben, "ben")):
            auth = {"Authorization": f"Bearer {token}"}
            taken = await http.post(f"/v1/collaboration/locks/deal/{user}", headers=auth)
            assert taken.status_code == 200, taken.text
            assert taken.json()["holder"]["userId"] == user

    other = tmp_path / "other"
    other.mkdir()
    elsewhere = await run_huddle(
        "token", "--user", "eve", "--org", "acme", "--workspace", "ws1", cwd=other
    )
    assert elsewhere.returncode == 0, elsewhere
    async with node.client({"Authorization": f"Bearer {elsewhere.stdout.strip()}"}) as http:
        refused = await http.get("/v1/collaboration/locks/my-locks")
        assert refused.status_code == 401, "a token signed with another dev secret worked"


BACKEND_FORMS = [
    "memory://",
    "redis://[[user]:password@]host:port[/db]",
    "rediss://...?ssl_ca_certs=&ssl_certfile=&ssl_keyfile=&ssl_cert_reqs=",
    "unix:///path/to/redis.sock[?db=N]",
]


async def test_version_prints_the_package_version(tmp_path: Path) -> None:
    """`huddle --version` prints `huddle <version>` and exits 0."""
    result = await run_huddle("--version", cwd=tmp_path)
    assert result.returncode == 0, result
    assert result.stdout.strip() == f"huddle {huddle.__version__}", result


async def test_serve_help_lists_every_backend_form(tmp_path: Path) -> None:
    """`huddle serve --help` lists each backend URL form, each whole on a line of its own,
    and the forms' schemes are exactly those a backend opens."""
    result = await run_huddle("serve", "--help", cwd=tmp_path)
    assert result.returncode == 0, result
    lines = [line.strip() for line in result.stdout.splitlines()]
    listed = [line for line in lines if "://" in line and " " not in line]
    assert listed == BACKEND_FORMS, result.stdout
    schemes = [form.partition("://")[0] for form in BACKEND_FORMS]
    for scheme in schemes:
        assert backend_scheme(f"{scheme}://x") == scheme
    with pytest.raises(ConfigError) as refused:
        backend_scheme("nope://x")
    assert str(refused.value).endswith(f"one of {', '.join(schemes)}")
