"""A plain `pip install .` (no extras, not editable) into a fresh virtualenv brings everything
the Python client and a node need: `from huddle.client import HuddleClient` works, and the
wheel carries the browser files the node serves (the client, the demo, the start page)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("install")

REPO = Path(__file__).parents[2]
_SKIP = shutil.ignore_patterns(
    ".venv", ".git", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "build", "results"
)

CHECK = """
from huddle.client import HuddleClient
from huddle.api.web import WEB
for name in ("client/huddle.js", "client/huddle.d.ts", "demo/index.html", "index.html"):
    assert (WEB / name).is_file() and not (WEB / name).is_symlink(), name
assert "export class Huddle" in (WEB / "client/huddle.js").read_text()
print("ok", HuddleClient.__name__)
"""


def run(*args: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_a_plain_pip_install_brings_the_python_client_and_the_browser_files(
    tmp_path: Path,
) -> None:
    source = tmp_path / "huddle"
    shutil.copytree(REPO, source, symlinks=True, ignore=_SKIP)
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    run(venv / "bin" / "pip", "install", "--quiet", ".", cwd=source)
    assert run(venv / "bin" / "python", "-c", CHECK, cwd=tmp_path).startswith("ok HuddleClient")
