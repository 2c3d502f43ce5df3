"""deploy/'s files pass their own tools: hadolint for the Dockerfile, the Kubernetes schemas
for the manifests, `nginx -t` and `haproxy -c` for the proxies (with their placeholder blocks
filled as the e2e tests fill them), so a recipe that does not parse never ships."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import haproxy, nginx
from tests.support.deploy_files import DEPLOY, fill

BIN = Path(sys.executable).parent


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_dockerfile_has_no_hadolint_finding() -> None:
    """hadolint at its default level finds nothing (no inline ignores either)."""
    done = run(BIN / "hadolint", DEPLOY / "Dockerfile")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hadolint ignore" not in (DEPLOY / "Dockerfile").read_text()


@pytest.mark.parametrize("manifest", sorted((DEPLOY / "k8s").glob("*.yaml")), ids=lambda p: p.name)
def test_each_manifest_matches_the_kubernetes_schema(manifest: Path) -> None:
    """Strict: an unknown or misplaced field fails, as a typo would be ignored by a cluster."""
    done = run(BIN / "kubernetes-validate", "--strict", manifest)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_deployment_outlives_the_drain() -> None:
    """The pod's grace period covers preStop, HUDDLE_DRAIN_TIMEOUT and 2 s of plain requests."""
    text = (DEPLOY / "k8s" / "deployment.yaml").read_text()
    assert "terminationGracePeriodSeconds: 30" in text
    assert 'name: HUDDLE_DRAIN_TIMEOUT\n              value: "10"' in text
    assert 'command: ["sleep", "5"]' in text  # 5 + 10 + 2 < 30


def test_the_nginx_config_passes_nginx_t(tmp_path: Path) -> None:
    main = nginx.write_config(tmp_path, 18080, [18081, 18082], failover=False)
    done = run(nginx.nginx_exe(), "-t", "-p", tmp_path, "-c", main)
    assert done.returncode == 0, done.stderr


def test_the_haproxy_config_passes_haproxy_c(tmp_path: Path) -> None:
    config = haproxy.write_config(tmp_path, 18080, [18081, 18082])
    done = run(haproxy.haproxy_exe(), "-c", "-f", config)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_shipped_proxy_configs_parse_as_they_stand(tmp_path: Path) -> None:
    """An operator may use them unedited: the defaults between the markers are valid too
    (`haproxy -c` here; nginx's defaults differ from the tests' only in paths and ports)."""
    done = run(haproxy.haproxy_exe(), "-c", "-f", DEPLOY / "haproxy" / "huddle.cfg")
    assert done.returncode == 0, done.stdout + done.stderr


def test_nginx_passes_host_with_its_port() -> None:
    """`$host` drops the port, and the Origin check then refuses same-origin WebSockets."""
    text = (DEPLOY / "nginx" / "huddle.conf").read_text()
    assert "proxy_set_header Host $http_host;" in text
    assert "Host $host;" not in text


def test_fill_replaces_every_block_of_a_name_and_refuses_unknown_names() -> None:
    text = "a\n  # BEGIN s\n  old\n  # END s\nb\n# BEGIN s\nold\n# END s\n"
    assert fill(text, {"s": "x\ny"}) == (
        "a\n  # BEGIN s\n  x\n  y\n  # END s\nb\n# BEGIN s\nx\ny\n# END s\n"
    )
    with pytest.raises(ValueError, match="no `# BEGIN t` block"):
        fill(text, {"t": "x"})
