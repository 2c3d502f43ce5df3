"""Credentials never reach the logs: `access_token` query values are masked in access lines."""

from __future__ import annotations

import logging
import re
from typing import Final

_TOKEN_IN_QUERY: Final = re.compile(r"((?:access_token|ticket)=)[^&\s\"]+")


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_QUERY.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        record.msg = _TOKEN_IN_QUERY.sub(r"\1[redacted]", str(record.msg))
        return True


def redact_tokens_in_access_log() -> None:
    """Install the filter on uvicorn's loggers once (logging is process-wide by design)."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
