"""Redis over TLS (`rediss://`) on a real redis-server with a throwaway CA: a node serves through
it when the URL names the CA, `huddle check` passes, and a certificate that cannot be verified
or a port that does not speak TLS fails `huddle check` with one line saying which. Against a
Redis that requires client certificates (`tls-auth-clients yes`), a node presenting one the CA
signed serves, and `huddle check` without one says so; `ssl_cert_reqs=none` skips verifying."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
from redis.asyncio import Redis

from tests.support.nodes import SECRET, NodeFactory, bearer, run_huddle
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.xdist_group("e2e")


@pytest.fixture(scope="module")
def redis_tls() -> Iterator[RedisServer]:
    """A redis-server with a TLS port (certificate from its own CA) beside its plain one,
    which the tests' own client uses to look at what the node did."""
    with RedisServer(tls=True) as server:
        yield server


@pytest.fixture(scope="module")
def redis_mtls() -> Iterator[RedisServer]:
    """A redis-server whose TLS port accepts only clients with a certificate its CA signed."""
    with RedisServer(tls_auth_clients=True) as server:
        yield server


def check_settings(url: str) -> dict[str, str]:
    return {"HUDDLE_BACKEND_URL": url, "HUDDLE_JWT_SECRET": SECRET}


async def test_a_node_serves_over_tls_when_the_url_names_the_ca(
    nodes: NodeFactory, redis_tls: RedisServer
) -> None:
    """With `?ssl_ca_certs=<ca.pem>` the node is ready, takes a lock and publishes an event,
    and both are in Redis, written over connections to the TLS port."""
    node = await nodes.start(redis_tls.tls_url(), name="a")
    async with node.client(bearer("ana", admin=True)) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        taken = await http.post("/v1/collaboration/locks/deal/42")
        assert taken.status_code == 200, taken.text
        published = await http.post(
            "/v1/orgs/acme/workspaces/ws1/events", json={"type": "test.tls", "data": {"n": 1}}
        )
        assert published.status_code == 201, published.text
    base = f"{nodes.prefix}:{{acme/ws1}}"
    async with Redis.from_url(redis_tls.url()) as plain:
        assert await plain.hexists(f"{base}:locks", "deal/42")
        log = await plain.xrange(f"{base}:log") or []
        # an event blob is msgpack [epoch, seq, ts_ms, type, actor, data] (scripts/_lib.lua)
        types = [msgpack.unpackb(fields[b"e"])[3] for _, fields in log if fields]
        assert types == ["lock.acquired", "test.tls"], log
        clients = await plain.client_list()
    over_tls = [c for c in clients if c["laddr"].endswith(f":{redis_tls.tls_port}")]
    assert over_tls, f"no client on the TLS port: {clients}"


async def test_check_passes_over_tls(redis_tls: RedisServer, tmp_path: Path) -> None:
    """`huddle check` reaches Redis through TLS, verifying the server with the named CA."""
    result = await run_huddle("check", cwd=tmp_path, settings=check_settings(redis_tls.tls_url()))
    assert result.returncode == 0, result
    assert "backend ok" in result.stdout, result


async def test_check_without_the_ca_names_the_certificate_problem(
    redis_tls: RedisServer, tmp_path: Path
) -> None:
    """A server certificate the system's CAs do not vouch for fails `huddle check` (exit 1)
    with one line naming the failed verification and the option that fixes it, not a
    traceback; the port does serve TLS, so the line does not send the operator there."""
    url = redis_tls.tls_url(ca=False)
    result = await run_huddle("check", cwd=tmp_path, settings=check_settings(url))
    assert result.returncode == 1, result
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("huddle: backend unreachable: Redis's TLS certificate is not trusted")
    assert "certificate verify failed" in line and "ssl_ca_certs" in line, result
    assert "does the port serve TLS?" not in line, result


async def test_check_against_a_plaintext_port_says_tls_failed(
    redis_tls: RedisServer, tmp_path: Path
) -> None:
    """`rediss://` to a port that does not speak TLS fails `huddle check` (exit 1) with one
    line that says TLS is what failed and asks whether the port serves it."""
    assert redis_tls.tls is not None
    url = f"rediss://127.0.0.1:{redis_tls.port}/0?ssl_ca_certs={redis_tls.tls.ca}"
    result = await run_huddle("check", cwd=tmp_path, settings=check_settings(url))
    assert result.returncode == 1, result
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("huddle: backend unreachable: "), result
    assert "no answer to the TLS handshake" in line, result
    assert line.endswith("(does the port serve TLS?)"), result


async def test_a_node_with_a_client_certificate_serves_when_redis_requires_one(
    nodes: NodeFactory, redis_mtls: RedisServer
) -> None:
    """With `?ssl_ca_certs=&ssl_certfile=&ssl_keyfile=` naming the CA and a client certificate
    it signed, a node is ready against a Redis that demands one, takes a lock and reads it
    back."""
    node = await nodes.start(redis_mtls.tls_url(client_cert=True), name="a")
    async with node.client(bearer("ana")) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        taken = await http.post("/v1/collaboration/locks/deal/1")
        assert taken.status_code == 200, taken.text
        mine = await http.get("/v1/collaboration/locks/my-locks")
        assert mine.status_code == 200, mine.text
        assert [lock["entityId"] for lock in mine.json()["locks"]] == ["1"], mine.text
    async with Redis.from_url(redis_mtls.url()) as plain:
        clients = await plain.client_list()
    over_tls = [c for c in clients if c["laddr"].endswith(f":{redis_mtls.tls_port}")]
    assert over_tls, f"no client on the TLS port: {clients}"


async def test_check_passes_with_a_client_certificate(
    redis_mtls: RedisServer, tmp_path: Path
) -> None:
    """`huddle check` passes over mutual TLS when the URL names the client certificate."""
    url = redis_mtls.tls_url(client_cert=True)
    result = await run_huddle("check", cwd=tmp_path, settings=check_settings(url))
    assert result.returncode == 0, result
    assert "backend ok" in result.stdout, result


async def test_check_without_a_client_certificate_says_one_is_required(
    redis_mtls: RedisServer, tmp_path: Path
) -> None:
    """A Redis with `tls-auth-clients yes` refuses a client with no certificate: `huddle
    check` fails (exit 1) with one line naming the client certificate and the options that
    name it, whether the server's alert or its reset reaches the client first."""
    result = await run_huddle("check", cwd=tmp_path, settings=check_settings(redis_mtls.tls_url()))
    assert result.returncode == 1, result
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("huddle: backend unreachable: Redis "), result
    assert "client certificate" in line and "?ssl_certfile=&ssl_keyfile=" in line, result
    assert "does the port serve TLS?" not in line, result


async def test_ssl_cert_reqs_none_connects_without_verifying(
    redis_tls: RedisServer, tmp_path: Path
) -> None:
    """`ssl_cert_reqs=none` (tests only) connects to a server whose CA the node was not
    given, where the same URL without it fails verification."""
    url = redis_tls.tls_url(ca=False, cert_reqs="none")
    result = await run_huddle("check", cwd=tmp_path, settings=check_settings(url))
    assert result.returncode == 0, result
    assert "backend ok" in result.stdout, result
