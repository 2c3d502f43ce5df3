"""Stream tickets: what a browser puts in an EventSource URL instead of its token.

An `EventSource` cannot send headers and reconnects by itself, with the same URL, whenever its
stream ends (a node restart, a failover, the stream's `timeout`), adding only `Last-Event-ID`.
A ticket therefore has two deadlines:

* **opens until** (`HUDDLE_STREAM_TICKET_TTL`, a minute): a request without `Last-Event-ID`
  opens a new stream only before it. A page opening a stream mints a fresh ticket.
* **resumes until**: a request that carries `Last-Event-ID` (the browser's reconnect) is
  accepted until the expiry of the token the ticket was minted from, and never more than
  `HUDDLE_STREAM_TICKET_RESUME_MAX` after minting. The stream itself ends at that time with a
  `sync.reconnect` event of reason `credential_expired`.

A ticket names one user of one workspace and carries the roles of the token it came from:
it grants reading that workspace's stream, as that user, for no longer than that token would,
and nothing else. It is signed with a key derived from the node secret for this one purpose, so
a ticket is never a token and a token is never a ticket; REST, the WebSocket handshake and
`auth.refresh` refuse it. A ticket minted from an API key (or a user token) names the key, by
id and fingerprint, and stops working when the key is revoked or replaced.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from typing import Any, Final, Literal

import jwt

from .auth import Principal, shared_set
from .errors import TokenExpired, Unauthenticated

#: The JWT header `typ` of a ticket: how a credential is recognised as one.
TICKET_TYPE: Final = "huddle-stream-ticket"
_KEY_LABEL: Final = b"huddle stream ticket v1"


class TicketStale(Unauthenticated):
    """A ticket past its first window, opening a new stream: mint a new one."""

    code = "TICKET_STALE"
    message_for_clients = "Credentials expired"


@dataclass(frozen=True, slots=True)
class Ticket:
    token: str
    opens_until: int
    resumes_until: int


def is_ticket(credential: str) -> bool:
    try:
        return jwt.get_unverified_header(credential).get("typ") == TICKET_TYPE
    except jwt.PyJWTError:
        return False


class StreamTickets:
    def __init__(self, secret: str, *, open_ttl: float, resume_max: float, leeway: float) -> None:
        self._key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
        self._open_ttl = open_ttl
        self._resume_max = resume_max
        self._leeway = leeway

    def mint(self, principal: Principal, workspace_id: str, now: float) -> Ticket:
        """A ticket for `principal`'s stream of `workspace_id`; it resumes no longer than the
        principal's own credential lives."""
        issued = math.floor(now)
        resumes_until = math.floor(now + self._resume_max)
        if principal.expires_at is not None:
            resumes_until = min(resumes_until, math.floor(principal.expires_at))
        # rounded up: a window cut to the whole second below could be next to nothing
        opens_until = min(math.ceil(now + self._open_ttl), resumes_until)
        claims: dict[str, Any] = {
            "sub": principal.user_id,
            "org": principal.org_id,
            "ws": workspace_id,
            "knd": principal.kind,
            "roles": sorted(principal.roles),
            "iat": issued,
            "opn": opens_until,
            "exp": resumes_until,
            "jti": secrets.token_urlsafe(9),
        }
        if principal.name:
            claims["name"] = principal.name
        if principal.key_id:
            claims["kid"] = principal.key_id
        if principal.key_fingerprint:
            claims["kfp"] = principal.key_fingerprint
        token = jwt.encode(claims, self._key, algorithm="HS256", headers={"typ": TICKET_TYPE})
        return Ticket(token, opens_until, resumes_until)

    def verify(self, ticket: str, *, resuming: bool, now: float) -> Principal:
        """The principal a ticket stands for. Raises TokenExpired past its resume deadline,
        TicketStale when it opens a new stream (`resuming` False) after its first minute,
        Unauthenticated for anything that is not a valid ticket."""
        try:
            # Times are checked below against `now`, one clock for all three deadlines.
            claims = jwt.decode(
                ticket,
                self._key,
                algorithms=["HS256"],
                options={
                    "require": ["exp", "iat", "opn", "sub", "org", "ws", "jti"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
            expires, opens = float(claims["exp"]), float(claims["opn"])
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            raise Unauthenticated(f"invalid stream ticket: {exc}") from exc
        if now > expires + self._leeway:
            raise TokenExpired("stream ticket past its token's expiry")
        if not resuming and now > opens + self._leeway:
            raise TicketStale(
                f"a ticket opens new streams only in its first {self._open_ttl:g} s "
                "(this request had no Last-Event-ID)"
            )
        kind: Literal["user", "service"] = "service" if claims.get("knd") == "service" else "user"
        roles = claims.get("roles", [])
        name = claims.get("name")
        key_id = claims.get("kid")
        fingerprint = claims.get("kfp")
        return Principal(
            kind=kind,
            user_id=str(claims["sub"]),
            org_id=str(claims["org"]),
            workspaces=frozenset({str(claims["ws"])}),
            default_workspace=str(claims["ws"]),
            roles=shared_set(tuple(str(r) for r in roles)),
            name=name if isinstance(name, str) else None,
            key_id=key_id if isinstance(key_id, str) else None,
            key_fingerprint=fingerprint if isinstance(fingerprint, str) else None,
            expires_at=expires,
            ticket_id=str(claims["jti"]),
        )
