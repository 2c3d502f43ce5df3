"""Stream tickets: a first window to open a stream, reconnects until the token's expiry, and
never a token in disguise."""

from __future__ import annotations

import jwt
import pytest

from huddle.auth import Principal, TokenVerifier, issue_token
from huddle.config import Settings
from huddle.errors import TokenExpired, Unauthenticated
from huddle.tickets import StreamTickets, TicketStale, is_ticket

SECRET = "unit-secret-0123456789abcdef-0123456789"
NOW = 1_800_000_000.0


def ana(expires_at: float | None = NOW + 3600, key_id: str | None = None) -> Principal:
    return Principal(
        kind="user",
        user_id="ana",
        org_id="acme",
        workspaces=frozenset({"ws1", "ws2"}),
        default_workspace="ws1",
        roles=frozenset({"member"}),
        name="Ana",
        key_id=key_id,
        expires_at=expires_at,
    )


def tickets(**overrides: float) -> StreamTickets:
    options = {"open_ttl": 60.0, "resume_max": 86_400.0, "leeway": 0.0} | overrides
    return StreamTickets(SECRET, **options)


def test_a_ticket_names_one_user_of_one_workspace_and_nothing_more() -> None:
    minted = tickets().mint(ana(), "ws2", NOW)
    found = tickets().verify(minted.token, resuming=False, now=NOW + 1)
    assert (found.user_id, found.org_id, found.name) == ("ana", "acme", "Ana")
    assert found.workspaces == frozenset({"ws2"})
    assert found.roles == frozenset({"member"})
    assert found.ticket_id
    assert is_ticket(minted.token)


def test_it_opens_streams_in_its_first_window_and_resumes_until_the_token_expires() -> None:
    minted = tickets().mint(ana(), "ws1", NOW)
    assert minted.opens_until == NOW + 60
    assert minted.resumes_until == NOW + 3600
    with pytest.raises(TicketStale):
        tickets().verify(minted.token, resuming=False, now=NOW + 61)
    found = tickets().verify(minted.token, resuming=True, now=NOW + 3599)
    assert found.expires_at == NOW + 3600


def test_it_never_outlives_its_token_nor_the_resume_cap() -> None:
    short = tickets().mint(ana(expires_at=NOW + 30), "ws1", NOW)
    assert short.resumes_until == NOW + 30 and short.opens_until == NOW + 30
    endless = tickets(resume_max=600).mint(ana(expires_at=None), "ws1", NOW)
    assert endless.resumes_until == NOW + 600
    with pytest.raises(TokenExpired):
        tickets().verify(short.token, resuming=True, now=NOW + 31)


def test_an_api_key_ticket_names_its_key() -> None:
    minted = tickets().mint(ana(expires_at=None, key_id="ak_1"), "ws1", NOW)
    assert tickets().verify(minted.token, resuming=False, now=NOW).key_id == "ak_1"


def test_a_token_is_not_a_ticket_and_a_ticket_is_not_a_token() -> None:
    """Tickets are signed with a key derived from the secret: the token verifier refuses
    them, the ticket verifier refuses tokens, and a forged `typ` header changes nothing."""
    minted = tickets().mint(ana(), "ws1", NOW)
    verifier = TokenVerifier(Settings(jwt_secret=SECRET), SECRET)
    with pytest.raises(Unauthenticated):
        verifier.verify(minted.token)
    token = issue_token(SECRET, user_id="ana", org_id="acme", workspace_id="ws1")
    assert not is_ticket(token)
    with pytest.raises(Unauthenticated):
        tickets().verify(token, resuming=True, now=NOW)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    forged = jwt.encode(
        {**claims, "ws": "ws1", "opn": claims["exp"]},
        SECRET,
        algorithm="HS256",
        headers={"typ": "huddle-stream-ticket"},
    )
    assert is_ticket(forged)
    with pytest.raises(Unauthenticated):
        tickets().verify(forged, resuming=True, now=float(claims["iat"]))


def test_a_tampered_ticket_is_refused() -> None:
    minted = tickets().mint(ana(), "ws1", NOW)
    head, body, signature = minted.token.split(".")
    with pytest.raises(Unauthenticated):
        tickets().verify(f"{head}.{body}.{signature[::-1]}", resuming=True, now=NOW)
    with pytest.raises(Unauthenticated):
        StreamTickets(
            "another-secret-0123456789abcdef-01", open_ttl=60, resume_max=60, leeway=0
        ).verify(minted.token, resuming=True, now=NOW)
