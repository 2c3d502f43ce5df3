"""Bench tokens, signed here with PyJWT alone: a client worker must not import `huddle` (its
app and FastAPI take about a second to import, per process)."""

from __future__ import annotations

import time

import jwt


def make_token(secret: str, user: str, org: str, workspace: str, *, admin: bool = False) -> str:
    """What `huddle token` prints (the claims of `huddle.auth.issue_token`), valid one day (a
    run never outlives it)."""
    now = int(time.time())
    claims = {
        "sub": user,
        "org": org,
        "workspaces": [workspace],
        "workspace": workspace,
        "roles": ["admin", "member"] if admin else ["member"],
        "iat": now,
        "exp": now + 86_400,
    }
    return jwt.encode(claims, secret, algorithm="HS256")
