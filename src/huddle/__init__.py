"""Huddle: who is here, who looks at what, who edits what, and what just changed."""

from .backends.base import Backend
from .config import Settings

__version__ = "0.1.0"


def create_app(settings: Settings | None = None):  # type: ignore[no-untyped-def]  # replaced below
    from .app import create_app as _create_app

    return _create_app(settings)


__all__ = ["Backend", "Settings", "__version__", "create_app"]
