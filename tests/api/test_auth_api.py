"""Credentials and tenancy: 401 for who-are-you, 403 for you-may-not, 404 for not-yours."""

from __future__ import annotations

import base64
import logging
import time
from pathlib import Path

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from huddle.auth import issue_token

from .conftest import SECRET, Api, app_settings, running_api

LOCK = "/v1/collaboration/locks/deal/42"


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


async def test_no_credentials_is_401_in_the_envelope(api: Api) -> None:
    answer = await api.client.get(LOCK)
    assert answer.status_code == 401
    body = answer.json()
    assert body["error"] == "AUTHENTICATION_FAILED" and body["status_code"] == 401
    assert set(body) == {"error", "message", "details", "timestamp", "status_code"}
    assert answer.headers["WWW-Authenticate"] == "Bearer"


async def test_expired_forged_and_unsigned_tokens_are_401_and_change_nothing(api: Api) -> None:
    now = int(time.time())
    claims = {"sub": "ana", "org": "acme", "workspaces": ["ws1"], "workspace": "ws1"}
    expired = jwt.encode({**claims, "exp": now - 3600}, SECRET, algorithm="HS256")
    forged = jwt.encode(
        {**claims, "exp": now + 600}, "another-secret-0123456789-0123456789-xyz", algorithm="HS256"
    )
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({**claims, 'exp': now + 600})}."
    no_exp = jwt.encode(claims, SECRET, algorithm="HS256")
    future = jwt.encode({**claims, "exp": now + 7200, "nbf": now + 3600}, SECRET, algorithm="HS256")
    async with api.unchanged():
        for token in (expired, forged, unsigned, no_exp, future, "garbage", "a.b.c"):
            answer = await api.client.post(LOCK, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 401, token
    assert (
        "expired"
        in (await api.client.post(LOCK, headers={"Authorization": f"Bearer {expired}"}))
        .json()["message"]
        .lower()
    )


async def test_small_clock_skew_is_tolerated(api: Api) -> None:
    now = int(time.time())
    claims = {"sub": "ana", "org": "acme", "workspaces": ["ws1"], "exp": now - 5, "iat": now + 5}
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    assert (
        await api.client.get(LOCK, headers={"Authorization": f"Bearer {token}"})
    ).status_code == 200


async def test_another_orgs_workspace_is_404_not_403(api: Api) -> None:
    """Existence is never leaked across tenants."""
    other = api.auth("mallory", org="evil", workspace="ws1")
    async with api.unchanged():
        answer = await api.client.post(
            "/v1/orgs/acme/workspaces/ws1/sync/presence/join", headers=other
        )
    assert answer.status_code == 404 and answer.json()["error"] == "RESOURCE_NOT_FOUND"
    events = await api.client.get("/v1/orgs/acme/workspaces/ws1/sync/events", headers=other)
    assert events.status_code == 404


async def test_a_workspace_of_ones_own_org_without_membership_is_403(api: Api) -> None:
    answer = await api.client.post(
        "/v1/orgs/acme/workspaces/secret/sync/presence/join", headers=api.auth("ana")
    )
    assert answer.status_code == 403


async def test_x_workspace_id_chooses_only_among_allowed_workspaces(api: Api) -> None:
    headers = {**api.auth("ana"), "X-Workspace-Id": "ws9"}
    assert (await api.client.get(LOCK, headers=headers)).status_code == 403
    headers = {**api.auth("ana"), "X-Workspace-Id": "bad/id"}
    assert (await api.client.get(LOCK, headers=headers)).status_code == 422


async def test_a_wildcard_token_must_choose_a_workspace(api: Api) -> None:
    now = int(time.time())
    token = jwt.encode(
        {"sub": "ana", "org": "acme", "workspaces": "*", "exp": now + 600},
        SECRET,
        algorithm="HS256",
    )
    bare = await api.client.get(LOCK, headers={"Authorization": f"Bearer {token}"})
    assert bare.status_code == 400
    chosen = await api.client.get(
        LOCK, headers={"Authorization": f"Bearer {token}", "X-Workspace-Id": "ws7"}
    )
    assert chosen.status_code == 200


async def test_tokens_with_bad_claims_are_401(api: Api) -> None:
    now = int(time.time())
    for claims in (
        {"sub": "a/b", "org": "acme", "exp": now + 600},
        {"sub": "ana", "org": "ac{me}", "exp": now + 600},
        {"sub": "ana", "org": "acme", "workspaces": 7, "exp": now + 600},
        {"sub": "ana", "org": "acme", "roles": "admin", "exp": now + 600},
    ):
        token = jwt.encode(claims, SECRET, algorithm="HS256")
        answer = await api.client.get(LOCK, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, claims


async def test_rs256_and_es256_public_keys_verify_and_refuse_algorithm_confusion(tmp_path) -> None:
    """With a public key configured, its algorithm verifies; the PEM used as an HS256 secret
    (algorithm confusion) and HS256 tokens signed with anything else are refused."""
    for private in (rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP256R1())):
        algorithm = "RS256" if isinstance(private, rsa.RSAPrivateKey) else "ES256"
        pem = (
            private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        settings = app_settings(tmp_path, jwt_public_key=pem)
        claims = {"sub": "ana", "org": "acme", "workspaces": ["ws1"], "exp": int(time.time()) + 600}
        async with running_api(settings) as api:
            good = jwt.encode(claims, private, algorithm=algorithm)
            assert (
                await api.client.get(LOCK, headers={"Authorization": f"Bearer {good}"})
            ).status_code == 200
            confused = "{}.{}.".format(b64({"alg": "HS256", "typ": "JWT"}), b64(claims))
            import hashlib
            import hmac

            signing_input = confused[:-1].encode()
            signature = (
                base64.urlsafe_b64encode(
                    hmac.new(pem.encode(), signing_input, hashlib.sha256).digest()
                )
                .rstrip(b"=")
                .decode()
            )
            answer = await api.client.get(
                LOCK, headers={"Authorization": f"Bearer {confused}{signature}"}
            )
            assert answer.status_code == 401


async def test_audience_and_issuer_are_checked_when_configured(tmp_path) -> None:
    settings = app_settings(tmp_path, jwt_audience="huddle", jwt_issuer="https://id.example")
    async with running_api(settings) as api:
        base = dict(user_id="ana", org_id="acme", workspace_id="ws1")
        right = issue_token(SECRET, **base, audience="huddle", issuer="https://id.example")
        wrong_aud = issue_token(SECRET, **base, audience="other", issuer="https://id.example")
        no_iss = issue_token(SECRET, **base, audience="huddle")
        for token, status in ((right, 200), (wrong_aud, 401), (no_iss, 401)):
            answer = await api.client.get(LOCK, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == status


async def test_oversized_bodies_are_413_in_the_envelope(api: Api) -> None:
    big = b'{"entities": [' + b'{"entityType": "deal", "entityId": "1"},' * 5000 + b"]}"
    answer = await api.client.post(
        "/v1/collaboration/presence/summary",
        content=big,
        headers={**api.auth(), "Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    assert answer.json()["error"] == "PAYLOAD_TOO_LARGE"


async def test_unknown_routes_answer_the_envelope(api: Api) -> None:
    answer = await api.client.get("/v1/nothing-here", headers=api.auth())
    assert answer.status_code == 404 and answer.json()["error"] == "RESOURCE_NOT_FOUND"


async def test_a_streamed_body_over_the_limit_is_413_without_a_length_header(api: Api) -> None:
    """A chunked body carries no Content-Length: the limit counts the bytes as they arrive."""

    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"entities": ['
        for _ in range(5000):
            yield b'{"entityType": "deal", "entityId": "1"},'
        yield b"]}"

    answer = await api.client.post(
        "/v1/collaboration/presence/summary",
        content=chunks(),
        headers={**api.auth(), "Content-Type": "application/json"},
    )
    assert "content-length" not in {k.lower() for k in answer.request.headers}
    assert answer.status_code == 413
    assert answer.json()["error"] == "PAYLOAD_TOO_LARGE"


async def test_refusals_say_only_missing_invalid_or_expired_and_log_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Which check failed stays in the node's log: a client reads one message per category.
    A time claim that is not a number (RFC 7519 NumericDate) is invalid, even a numeric
    string."""
    settings = app_settings(tmp_path, jwt_audience="huddle", jwt_issuer="https://id.example")
    now = int(time.time())
    good = {
        "sub": "ana",
        "org": "acme",
        "workspaces": ["ws1"],
        "aud": "huddle",
        "iss": "https://id.example",
    }

    def signed(claims: dict[str, object], key: str = SECRET) -> str:
        return jwt.encode(claims, key, algorithm="HS256")

    cases = {
        "missing": {},
        "garbage": {"Authorization": "Bearer garbage"},
        "three parts": {"Authorization": "Bearer a.b.c"},
        "bad signature": {
            "Authorization": f"Bearer {signed({**good, 'exp': now + 600}, 'x' * 40)}"
        },
        "wrong audience": {
            "Authorization": f"Bearer {signed({**good, 'aud': 'other', 'exp': now + 600})}"
        },
        "wrong issuer": {
            "Authorization": f"Bearer {signed({**good, 'iss': 'https://evil', 'exp': now + 600})}"
        },
        "no exp": {"Authorization": f"Bearer {signed(good)}"},
        "string exp": {"Authorization": f"Bearer {signed({**good, 'exp': str(now + 600)})}"},
        "string iat": {
            "Authorization": f"Bearer {signed({**good, 'exp': now + 600, 'iat': str(now)})}"
        },
        "unsigned": {
            "Authorization": f"Bearer {b64({'alg': 'none'})}.{b64({**good, 'exp': now + 600})}."
        },
        "expired": {"Authorization": f"Bearer {signed({**good, 'exp': now - 3600})}"},
        "unknown key": {"X-API-KEY": "ab" * 32},
    }
    caplog.set_level(logging.INFO, logger="huddle.api")
    async with running_api(settings) as api:
        answers = {name: await api.client.get(LOCK, headers=h) for name, h in cases.items()}
    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(cases, 401)
    messages = {name: a.json()["message"] for name, a in answers.items()}
    assert set(messages.values()) == {
        "Authentication required",
        "Invalid credentials",
        "Credentials expired",
    }
    assert messages["missing"] == "Authentication required"
    assert messages["expired"] == "Credentials expired"
    assert answers["expired"].json()["error"] == "TOKEN_EXPIRED"
    assert messages["string exp"] == messages["wrong audience"] == "Invalid credentials"
    logged = caplog.text
    for why in ("Signature verification failed", "audience", "not a number", "unknown"):
        assert why.lower() in logged.lower(), why
