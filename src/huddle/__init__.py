"""Huddle: who is here, who looks at what, who edits what, and what just changed."""

__version__ = "0.1.0"

from .app import create_app
from .backends.base import Backend
from .config import Settings

__all__ = ["Backend", "Settings", "__version__", "create_app"]
