"""One Settings object: every option and limit of a node, with its default, check and meaning.

Every field is also an environment variable with the `HUDDLE_` prefix (`HUDDLE_BACKEND_URL`,
`HUDDLE_PRESENCE_TTL` ...). The table in README.md is generated from these descriptions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]

#: `scheme://host[:port]`, as browsers send `Origin`: no path, no trailing slash.
_ORIGIN: Final = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")

#: The public id secret a node uses unless told otherwise: published here, so fit for
#: memory:// development only. Production sets `HUDDLE_ID_SECRET` (and never changes it).
DEV_ID_SECRET: Final = "huddle-dev-public-id-secret-not-for-production"

#: A list of origins from the environment: `a,b`, or a JSON list `["a", "b"]`.
Origins = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUDDLE_", frozen=True, extra="ignore")

    host: str = Field("127.0.0.1", description="Interface `huddle serve` binds.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port `huddle serve` binds.")
    backend_url: str = Field(
        "memory://",
        description="`memory://` (embedded, one process) or `redis://host:port/db` (shared).",
    )
    log_level: LogLevel = Field("info", description="Log level of the node.")
    node_id: str | None = Field(None, description="Name of this node in logs; random if unset.")
    workers: int = Field(
        1,
        ge=1,
        le=512,
        description="Worker processes `huddle serve` runs on its one port, each a node "
        "(redis:// only; their ids end `-w1`, `-w2`, ...).",
    )

    jwt_secret: SecretStr | None = Field(
        None,
        description="HS256 signing secret. Required with redis://; memory:// makes a dev secret.",
    )
    jwt_public_key: str | None = Field(
        None, description="PEM public key (or a path to one) to verify RS256/ES256 tokens."
    )
    jwt_audience: str | None = Field(None, description="Required `aud` claim, when set.")
    jwt_issuer: str | None = Field(None, description="Required `iss` claim, when set.")
    jwt_leeway: float = Field(
        30.0, ge=0, le=300, description="Seconds of clock skew allowed for exp/nbf/iat."
    )
    id_secret: SecretStr = Field(
        SecretStr(DEV_ID_SECRET),
        description="Key of the UUID-shaped public ids of records (at least 16 characters). "
        "The default is public, for memory:// development: production must set a random one, "
        "and changing it changes every public id ever handed out.",
    )
    operator_key: SecretStr | None = Field(
        None,
        description="The platform operator's key (at least 32 characters): the X-API-KEY of "
        "`POST /api/organization` (seed 004), which creates organizations. memory:// derives a "
        "dev one from the dev secret (`huddle serve` prints it); unset on a shared backend, no "
        "organization can be created.",
    )
    dev_secret_file: Path = Field(
        Path(".huddle/dev-secret"),
        description="Where memory:// mode keeps its generated dev secret (shared by serve/token).",
    )

    event_log_length: int = Field(
        10_000, ge=10, description="Events kept per workspace for replay (approximate on Redis)."
    )
    idempotency_window: float = Field(
        300.0, gt=0, description="Seconds a publish idempotency key returns the first event."
    )
    replay_limit_max: int = Field(1_000, ge=1, description="Most events one replay read returns.")

    presence_ttl: float = Field(
        30.0, ge=0.2, le=3600, description="Seconds a presence session lives without a refresh."
    )
    lock_ttl_default: float = Field(30.0, gt=0, description="Lease seconds when none is asked.")
    lock_ttl_min: float = Field(1.0, gt=0, description="Shortest lease a client may ask for.")
    lock_ttl_max: float = Field(3600.0, gt=0, description="Longest lease a client may ask for.")
    sweep_interval: float = Field(
        1.0, gt=0, le=60, description="Seconds between expiry sweeps of presence and locks."
    )
    sweep_batch: int = Field(500, ge=1, description="Most expiries one sweep call handles.")

    summary_max_entities: int = Field(
        100, ge=1, le=10_000, description="Most entities one presence summary request may ask."
    )
    max_body_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest HTTP request body; larger answers 413."
    )
    max_event_bytes: int = Field(
        32 * 1024, ge=256, description="Largest encoded `data` of a published event."
    )
    subscriber_queue_limit: int = Field(
        1_000, ge=1, description="Events a bus subscriber may lag before it is dropped."
    )
    outbox_limit: int = Field(
        1_000, ge=1, description="Frames a live connection may lag before it is disconnected."
    )
    sse_heartbeat: float = Field(
        15.0, gt=0, le=300, description="Seconds between SSE comment heartbeats."
    )
    sse_retry: float = Field(
        3.0, gt=0, le=300, description="Reconnect delay (seconds) SSE streams advise browsers."
    )
    poll_wait_max: float = Field(
        30.0, ge=0, le=300, description="Longest `wait=` a REST long poll may ask for."
    )
    sse_max_lifetime: float = Field(
        7200.0,
        ge=1,
        le=7200,
        description="Longest an SSE stream stays open whatever its `timeout` asks; it then ends "
        "with `sync.reconnect` and the client resumes (spreads streams over new nodes).",
    )
    stream_ticket_ttl: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="Seconds a stream ticket (for EventSource) may open a new stream.",
    )
    stream_ticket_resume_max: float = Field(
        86_400.0,
        gt=0,
        description="Longest a stream ticket lets its stream reconnect (with Last-Event-ID); "
        "never past the expiry of the token it was minted from.",
    )
    cors_origins: Origins = Field(
        default_factory=list,
        description="Origins whose pages may call the REST API and open SSE streams (CORS), "
        "comma-separated or a JSON list; `*` for any. Empty: no CORS headers.",
    )
    cors_allow_credentials: bool = Field(
        False,
        description="Allow credentialed cross-origin requests (cookies) from `HUDDLE_CORS_ORIGINS`"
        " (not with `*`).",
    )
    cors_max_age: int = Field(
        600, ge=0, le=86_400, description="Seconds a browser may cache a CORS preflight answer."
    )
    allowed_origins: Origins = Field(
        default_factory=list,
        description="Origins, besides the node's own and `HUDDLE_CORS_ORIGINS`, allowed to open "
        "WebSockets and cookie-authenticated streams (comma-separated or a JSON list).",
    )
    header_timeout: float = Field(
        10.0,
        gt=0,
        le=30,
        description="Seconds a request's headers may take to arrive, from the connection's "
        "start (or their first byte on a kept-alive connection); then 408 and close. A "
        "connection that sends nothing is closed after it too.",
    )
    max_header_bytes: int = Field(
        32 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Largest request head (request line and headers); larger answers 431 "
        "and closes before it is read further.",
    )
    body_timeout: float = Field(
        10.0,
        gt=0,
        le=30,
        description="Longest pause while a request body is incomplete; then the connection "
        "is closed.",
    )
    send_timeout: float = Field(
        15.0,
        gt=0,
        le=30,
        description="Longest a client may leave what the node sends unread (SSE, WebSocket, "
        "any response); then the connection is aborted and its queued bytes freed.",
    )
    drain_timeout: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Seconds a node waits, on SIGTERM, for its connections to end after it "
        "asked them to reconnect elsewhere (WebSocket 4002, SSE `sync.reconnect`).",
    )
    lock_release_on_disconnect: bool = Field(
        True, description="Release a lock taken over a connection after that connection drops."
    )
    lock_release_grace: float = Field(
        10.0, ge=0, le=3600, description="Seconds a dropped connection's locks wait for it."
    )
    ws_max_subscriptions: int = Field(
        100, ge=1, description="Workspaces one WebSocket connection may subscribe to."
    )
    ws_max_connections: int = Field(
        10_000, ge=1, description="WebSocket connections one node accepts; more are closed 4029."
    )
    ws_max_connections_per_user: int = Field(
        50, ge=1, description="WebSocket connections one user may hold on a node; more: 4029."
    )
    ws_pipeline_depth: int = Field(
        32,
        ge=1,
        description="Requests (publish, lock ops, ping) one WebSocket connection may have "
        "waiting for the backend at once; it reads no further frame until one is answered.",
    )
    publish_rate: float = Field(
        50.0,
        gt=0,
        description="Publishes per second per WebSocket connection (bursts of one second's "
        "worth); more are answered RATE_LIMITED.",
    )
    sse_max_streams_per_user: int = Field(
        20, ge=1, description="SSE streams one user may hold open on a node; more answer 429."
    )
    redis_timeout: float = Field(
        2.0, gt=0, le=60, description="Seconds a Redis call may take before it answers 503."
    )
    redis_max_waiting: int = Field(
        10_000,
        ge=1,
        description="Redis calls one node may have waiting at once; past that, requests "
        "answer 503 at once instead of queueing work that would time out.",
    )
    redis_prefix: str = Field(
        "hd", pattern=r"^[A-Za-z0-9_.-]{1,32}$", description="Prefix of every Redis key."
    )
    record_event_max_bytes: int = Field(
        8 * 1024,
        ge=256,
        description="Largest record a change event carries whole; larger ones carry only the "
        "changed values.",
    )
    custom_objects_max: int = Field(
        200, ge=1, description="Custom objects one workspace may define."
    )
    custom_fields_max: int = Field(100, ge=1, description="Fields one custom object may have.")
    docs_enabled: bool = Field(True, description="Serve /docs and /openapi.json.")
    demo_enabled: bool = Field(
        True,
        description="Serve /demo; it mints demo tokens only on memory:// with the dev secret.",
    )

    @field_validator("cors_origins", "allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        """`https://a.example,https://b.example` or `["https://a.example"]`: each origin as a
        browser sends it (`scheme://host[:port]`), or `*` (CORS only)."""
        if isinstance(value, str):
            text = value.strip()
            try:
                value = json.loads(text) if text.startswith("[") else text.split(",")
            except ValueError:
                raise ValueError(
                    f"{text[:60]!r} is neither a JSON list nor a comma-separated list"
                ) from None
        if not isinstance(value, list):
            return value
        origins = [str(item).strip().rstrip("/") for item in value if str(item).strip()]
        for origin in origins:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path)")
        return origins

    @field_validator("id_secret")
    @classmethod
    def _id_secret_is_long_enough(cls, value: SecretStr) -> SecretStr:
        # One public id and its record id let anyone test guesses of the secret offline.
        if len(value.get_secret_value().encode()) < 16:
            raise ValueError("HUDDLE_ID_SECRET needs at least 16 bytes")
        return value

    @field_validator("operator_key")
    @classmethod
    def _operator_key_is_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("HUDDLE_OPERATOR_KEY needs at least 32 characters")
        return value

    @model_validator(mode="after")
    def _origin_lists_are_coherent(self) -> Settings:
        if "*" in self.allowed_origins:
            raise ValueError("HUDDLE_ALLOWED_ORIGINS takes origins, not `*`")
        if "*" in self.cors_origins and self.cors_allow_credentials:
            raise ValueError("`*` in HUDDLE_CORS_ORIGINS cannot go with credentials: list origins")
        return self

    @model_validator(mode="after")
    def _lock_bounds_are_ordered(self) -> Settings:
        if not self.lock_ttl_min <= self.lock_ttl_default <= self.lock_ttl_max:
            raise ValueError("lock TTLs must satisfy lock_ttl_min <= lock_ttl_default <= max")
        return self

    @property
    def is_memory(self) -> bool:
        return self.backend_url.startswith("memory://")


def mask_password(url: str) -> str:
    """`url` with the password of its user info (and a `password` query value) replaced."""
    parts = urlsplit(url)
    netloc, query = parts.netloc, parts.query
    if parts.password is not None:
        user_info, _, host = netloc.rpartition("@")
        user = user_info.partition(":")[0]
        netloc = f"{user}:***@{host}"
    if "password=" in query:
        query = "&".join(
            "password=***" if pair.startswith("password=") else pair for pair in query.split("&")
        )
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # untouched, byte for byte (urlunsplit would drop the `//` of unix:///)
    return urlunsplit(parts._replace(netloc=netloc, query=query))
