"""Principals, and turning credentials into them: JWT bearer tokens, API keys, user tokens.

Tokens: HS256 with a shared secret, or RS256/ES256 with a public key. Each key type has its own
algorithm list, so `alg=none` and algorithm confusion (an RS256 public key used as an HS256
secret) are refused by construction. `exp` is required; `nbf`/`iat` are honoured with leeway.

API keys are 64 lowercase hexadecimal characters (the shape CRM clients expect of a personal
access token). User tokens are the other shape of key: an RFC 4122 UUID (what WorkDrive clients
send as `X-API-KEY`), one per user, made by `uuid4` (122 random bits). Both are stored the
same way: only the SHA-256 of the lowercased text; a key is random, so a fast hash is enough
and a lookup costs one read.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from .config import Settings
from .errors import ConfigError, Forbidden, TokenExpired, Unauthenticated
from .ids import is_tenant_id, is_user_id
from .models import Actor

ADMIN: Final = "admin"
MEMBER: Final = "member"
_API_KEY: Final = re.compile(r"^[0-9a-fA-F]{64}$")
_USER_TOKEN: Final = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_FINGERPRINT_LABEL: Final = b"huddle key fingerprint v1\x00"
_DEV_SECRET_BYTES: Final = 32
#: Claims that are times: RFC 7519 makes them numbers, and a string is refused.
_TIME_CLAIMS: Final = ("exp", "nbf", "iat")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (token or user key) or a service (key without a user).

    `workspaces` is None when the principal may use every workspace of its org (`"*"`).
    """

    kind: Literal["user", "service"]
    user_id: str
    org_id: str
    workspaces: frozenset[str] | None
    default_workspace: str | None
    roles: frozenset[str]
    name: str | None = None
    key_id: str | None = None
    key_fingerprint: str | None = None
    """With `key_id`: which key of that id (`key_fingerprint`), so that the revocation of a
    replaced user token ends this principal's connections and not its successor's."""
    expires_at: float | None = None
    ticket_id: str | None = None
    """Set for a stream ticket (`huddle.tickets`), which opens its workspace's stream and
    nothing else: the ticket's own id, which every reconnect of its stream presents."""

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def is_api_key(self) -> bool:
        return self.key_id is not None

    def may_use(self, workspace_id: str) -> bool:
        return self.workspaces is None or workspace_id in self.workspaces

    def actor(self) -> Actor:
        return Actor(self.kind, self.user_id, self.name)

    def require_admin(self, permission: str) -> None:
        if not self.is_admin:
            raise Forbidden(
                "This action needs the admin role",
                details={"required_permission": permission},
            )


# --- API keys ---------------------------------------------------------------------------------


def looks_like_api_key(credential: str) -> bool:
    """A 64-hex API key, or a UUID user token: both are looked up in the `KeyStore`."""
    return (
        _API_KEY.fullmatch(credential) is not None or _USER_TOKEN.fullmatch(credential) is not None
    )


def new_api_key() -> str:
    return secrets.token_hex(32)


def new_user_token() -> str:
    return str(uuid.uuid4())


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.lower().encode()).hexdigest()


def key_fingerprint(key_hash: str) -> str:
    """A short public name of one key (of its stored hash): a stream ticket names the key it
    came from by it, and a revocation is matched to connections by it, without the hash
    itself travelling in a URL."""
    return hashlib.sha256(_FINGERPRINT_LABEL + key_hash.encode()).hexdigest()[:16]


# --- JWT --------------------------------------------------------------------------------------


def resolve_jwt_secret(settings: Settings) -> str | None:
    """The HS256 secret a node verifies (and `huddle token` signs) with.

    An explicit `HUDDLE_JWT_SECRET` always wins. Without one, a memory:// node generates a dev
    secret into `dev_secret_file` (mode 0600), shared by `serve` and `token`; a shared backend
    refuses, so no production node ever runs on a dev secret. With only a public key, None.
    """
    if settings.jwt_secret is not None:
        secret = settings.jwt_secret.get_secret_value()
        if len(secret.encode()) < 32:
            raise ConfigError("HUDDLE_JWT_SECRET must be at least 32 bytes (HS256 key length)")
        return secret
    if not settings.is_memory:
        if settings.jwt_public_key:
            return None
        raise ConfigError(
            f"backend {settings.backend_url.split('@')[-1]!r} needs HUDDLE_JWT_SECRET (or "
            "HUDDLE_JWT_PUBLIC_KEY): a shared node never runs on a generated dev secret"
        )
    return _dev_secret(settings.dev_secret_file)


def resolve_operator_key(settings: Settings, dev_secret: str | None) -> str | None:
    """The platform operator's key (`POST /api/organization`): `HUDDLE_OPERATOR_KEY`, or on a
    memory:// dev node one derived from its dev secret (stable across restarts, printed by
    `huddle serve`); None: no organization can be created on this node."""
    if settings.operator_key is not None:
        return settings.operator_key.get_secret_value()
    if dev_secret is None:
        return None
    derived = hmac.new(dev_secret.encode(), b"huddle.operator-key.v1", hashlib.sha256)
    return "op_" + derived.hexdigest()[:48]


def is_operator_key(expected: str | None, sent: str | None) -> bool:
    """`sent` is the operator key (compared in constant time)."""
    if expected is None or sent is None:
        return False
    return hmac.compare_digest(expected.encode(), sent.encode())


def _dev_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(_DEV_SECRET_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secret + "\n")
    return secret


def issue_token(
    secret: str,
    *,
    user_id: str,
    org_id: str,
    workspace_id: str,
    admin: bool = False,
    name: str | None = None,
    ttl: float = 3600.0,
    audience: str | None = None,
    issuer: str | None = None,
) -> str:
    """A signed HS256 token for one user of one workspace (what `huddle token` prints)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user_id,
        "org": org_id,
        "workspaces": [workspace_id],
        "workspace": workspace_id,
        "roles": [ADMIN, MEMBER] if admin else [MEMBER],
        "iat": now,
        "exp": now + int(ttl),
    }
    if name:
        claims["name"] = name
    if audience:
        claims["aud"] = audience
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm="HS256")


class TokenVerifier:
    """Verifies bearer JWTs against the configured keys, one algorithm list per key."""

    def __init__(self, settings: Settings, secret: str | None) -> None:
        self._settings = settings
        self._keys: dict[str, Any] = {}
        if secret is not None:
            self._keys["HS256"] = secret
        if settings.jwt_public_key:
            public_key = _load_public_key(settings.jwt_public_key)
            algorithm = "RS256" if isinstance(public_key, RSAPublicKey) else "ES256"
            self._keys[algorithm] = public_key
        if not self._keys:
            raise ConfigError("no JWT key: set HUDDLE_JWT_SECRET or HUDDLE_JWT_PUBLIC_KEY")

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"malformed bearer token: {exc}") from exc
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._keys:
            raise Unauthenticated(f"token algorithm {algorithm!r} is not accepted")
        key = self._keys[algorithm]
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._settings.jwt_audience,
                issuer=self._settings.jwt_issuer,
                leeway=self._settings.jwt_leeway,
                options={
                    "require": ["exp", "sub"],
                    "verify_aud": self._settings.jwt_audience is not None,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired(f"token expired: {exc}") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from exc
        for claim in _TIME_CLAIMS:
            value = claims.get(claim)
            if value is not None and (
                not isinstance(value, int | float) or isinstance(value, bool)
            ):
                raise Unauthenticated(f"token `{claim}` is not a number (RFC 7519 NumericDate)")
        return principal_from_claims(claims)


@functools.lru_cache(maxsize=4096)
def shared_set(items: tuple[str, ...]) -> frozenset[str]:
    """One frozenset per distinct list of roles or workspaces: every open connection holds
    its principal, and thousands of them hold the same few sets (216 bytes each)."""
    return frozenset(items)


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    sub, org = claims.get("sub"), claims.get("org")
    if not isinstance(sub, str) or not is_user_id(sub):
        raise Unauthenticated("token `sub` must be a user id")
    if not isinstance(org, str) or not is_tenant_id(org):
        raise Unauthenticated("token `org` must be an organisation id")
    raw_workspaces = claims.get("workspaces", [])
    workspaces: frozenset[str] | None
    if raw_workspaces == "*":
        workspaces = None
    elif isinstance(raw_workspaces, list) and all(isinstance(w, str) for w in raw_workspaces):
        workspaces = shared_set(tuple(raw_workspaces))
    else:
        raise Unauthenticated("token `workspaces` must be a list of ids or '*'")
    default = claims.get("workspace")
    if not isinstance(default, str):
        default = next(iter(workspaces)) if workspaces and len(workspaces) == 1 else None
    roles = claims.get("roles", [MEMBER])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthenticated("token `roles` must be a list")
    name = claims.get("name")
    exp = claims.get("exp")
    return Principal(
        kind="user",
        user_id=sub,
        org_id=org,
        workspaces=workspaces,
        default_workspace=default,
        roles=shared_set(tuple(roles)),
        name=name if isinstance(name, str) else None,
        expires_at=float(exp) if isinstance(exp, int | float) else None,
    )


def _load_public_key(value: str) -> RSAPublicKey | EllipticCurvePublicKey:
    pem = value if "-----BEGIN" in value else Path(value).read_text()
    key = load_pem_public_key(pem.encode())
    if not isinstance(key, RSAPublicKey | EllipticCurvePublicKey):
        raise ConfigError("HUDDLE_JWT_PUBLIC_KEY must be an RSA or EC public key")
    return key
