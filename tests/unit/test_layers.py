"""The layers of DESIGN.md, enforced: imports point down, never up."""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

import huddle

SRC = Path(huddle.__file__).parent
CORE = {
    "config",
    "ids",
    "clock",
    "errors",
    "models",
    "store",
    "public_ids",
    "auth",
    "tickets",
    "encoding",
}
MAY_IMPORT = {
    "core": {"core"},
    "protocol": {"core"},
    "backends": {"core"},
    "hub": {"core", "protocol", "backends"},
    "engine": {"core", "protocol", "backends", "hub"},
    "services": {"core", "protocol", "backends", "hub", "engine"},
    "api": {"core", "protocol", "hub", "engine", "services"},
    "client": {"core", "protocol"},
}


def layer_of(module: str) -> str:
    """`huddle.api.deps` -> api; core modules -> core; app/cli/package root -> root."""
    parts = module.split(".")
    if len(parts) < 2:
        return "root"
    if parts[1] in MAY_IMPORT:
        return parts[1]
    return "core" if parts[1] in CORE else "root"


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def huddle_imports(path: Path) -> list[tuple[int, str]]:
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("huddle")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("huddle"):
                names = [f"{target}.{a.name}" for a in node.names] if not node.module else []
                found += [(node.lineno, t) for t in names or [target]]
    return found


def test_imports_point_down() -> None:
    """No module imports a layer above its own (api → services → engine → hub → backends →
    core)."""
    wrong = [
        f"{path.relative_to(SRC)}:{line} imports {target}"
        for path in SRC.rglob("*.py")
        for line, target in huddle_imports(path)
        if (here := layer_of(module_name(path))) in MAY_IMPORT
        and layer_of(target) not in MAY_IMPORT[here] | {here}
    ]
    assert not wrong, "\n".join(wrong)


def test_only_the_backend_package_imports_implementations() -> None:
    """Backends are chosen by URL in `backends/__init__.py`; nobody imports memory/redis."""
    wrong = [
        f"{path.relative_to(SRC)}:{line} imports {target}"
        for path in SRC.rglob("*.py")
        if not path.is_relative_to(SRC / "backends")
        for line, target in huddle_imports(path)
        if target.startswith(("huddle.backends.memory", "huddle.backends.redis"))
    ]
    assert not wrong, "\n".join(wrong)


def test_the_walker_resolves_relative_imports() -> None:
    """`from ..services import X` in api/ resolves to huddle.services: dots hide nothing."""
    targets = {t for _, t in huddle_imports(SRC / "api" / "deps.py")}
    assert any(layer_of(t) == "services" for t in targets)
    assert all(
        layer_of(t) in {"core", "backends"} for _, t in huddle_imports(SRC / "backends" / "base.py")
    )


def test_public_names_are_exactly_dunder_all() -> None:
    """`huddle` exports create_app, Settings, __version__ and the backend contract only."""
    public = {
        n
        for n, v in vars(huddle).items()
        if not n.startswith("_") and not isinstance(v, ModuleType)
    }
    assert public | {"__version__"} == set(huddle.__all__)
