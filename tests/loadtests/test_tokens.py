"""The workers' lean token signer agrees with Huddle's own."""

from __future__ import annotations

import jwt

from huddle.auth import issue_token
from loadtests.tokens import make_token


def test_bench_tokens_carry_the_claims_of_huddle_token() -> None:
    """Same claims as `huddle.auth.issue_token` (one day), for a member and an admin."""
    for admin in (False, True):
        ours = jwt.decode(make_token("s" * 32, "u1", "o1", "w1", admin=admin), "s" * 32,
                          algorithms=["HS256"])  # fmt: skip
        theirs = jwt.decode(
            issue_token("s" * 32, user_id="u1", org_id="o1", workspace_id="w1", admin=admin,
                        ttl=86_400),
            "s" * 32,
            algorithms=["HS256"],
        )  # fmt: skip
        assert ours["exp"] - ours["iat"] == 86_400
        for claims in (ours, theirs):
            del claims["iat"], claims["exp"]
        assert ours == theirs
