"""CORS for browsers: an allow-list, preflights with each path's real methods, nothing for
other origins, and `Allow` headers that name every method a path takes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from huddle import Settings

from .conftest import Api, app_settings, running_api

APP = "http://app.example:3000"
OTHER = "http://evil.example"
LOCK = "/v1/collaboration/locks/deal/42"
TICKET = "/v1/orgs/acme/workspaces/ws1/sync/ticket"
STREAM = "/v1/orgs/acme/workspaces/ws1/sync/stream"


@pytest.fixture
async def cors_api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(app_settings(tmp_path, cors_origins=f"{APP},https://b.example")) as api:
        yield api


def preflight(method: str, origin: str = APP, headers: str = "authorization") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


async def test_a_preflight_names_every_method_of_the_path_and_the_headers_huddle_reads(
    cors_api: Api,
) -> None:
    """The lock path is three routes (GET, POST, DELETE): the preflight names all of them."""
    answer = await cors_api.client.options(LOCK, headers=preflight("DELETE"))
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == APP
    methods = {m.strip() for m in answer.headers["access-control-allow-methods"].split(",")}
    assert methods == {"GET", "POST", "DELETE", "OPTIONS"}
    allowed = {h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert {
        "authorization",
        "content-type",
        "x-api-key",
        "last-event-id",
        "if-match",
        "x-workspace-id",
    } <= allowed
    assert answer.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in answer.headers
    assert int(answer.headers["access-control-max-age"]) == cors_api.settings.cors_max_age


async def test_an_allowed_origin_reads_answers_and_the_exposed_headers(cors_api: Api) -> None:
    headers = {"Origin": APP, **cors_api.auth()}
    taken = await cors_api.client.post(LOCK, headers=headers)
    assert taken.status_code == 200
    assert taken.headers["access-control-allow-origin"] == APP
    exposed = {h.strip() for h in taken.headers["access-control-expose-headers"].split(",")}
    assert {"X-Request-Id", "Retry-After"} <= exposed
    ticket = await cors_api.client.post(TICKET, headers=headers)
    assert ticket.status_code == 200
    assert ticket.headers["access-control-allow-origin"] == APP
    refused = await cors_api.client.get(LOCK, headers={"Origin": APP})
    assert refused.status_code == 401, "errors carry CORS headers too, so a page can read them"
    assert refused.headers["access-control-allow-origin"] == APP


async def test_the_stream_answers_an_allowed_origin(tmp_path: Path) -> None:
    """(The stream of a token that expires at once ends by itself: in-process, the whole
    answer is read before it is returned.)"""
    settings = app_settings(tmp_path, cors_origins=APP, jwt_leeway=0)
    async with running_api(settings) as api:
        headers = {"Origin": APP, **api.auth(ttl=2)}  # at least 1 s left: iat is whole seconds
        answer = await api.client.get(STREAM, params={"presence": "false"}, headers=headers)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == APP
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert "credential_expired" in answer.text


async def test_another_origin_gets_no_cors_header_and_its_preflight_is_refused(
    cors_api: Api,
) -> None:
    async with cors_api.unchanged():
        answer = await cors_api.client.options(LOCK, headers=preflight("POST", OTHER))
        assert answer.status_code == 403
        assert answer.json()["error"] == "FORBIDDEN"
        assert "access-control-allow-origin" not in answer.headers
        plain = await cors_api.client.get(LOCK, headers={"Origin": OTHER, **cors_api.auth()})
        assert plain.status_code == 200, "the server answers; the browser withholds it"
        assert "access-control-allow-origin" not in plain.headers


async def test_without_cors_origins_no_request_gets_cors_headers(memory_api: Api) -> None:
    answer = await memory_api.client.get(LOCK, headers={"Origin": APP, **memory_api.auth()})
    assert answer.status_code == 200
    assert not [h for h in answer.headers if h.startswith("access-control-")]
    refused = await memory_api.client.options(LOCK, headers=preflight("POST"))
    assert refused.status_code == 405
    assert not [h for h in refused.headers if h.startswith("access-control-")]


async def test_a_405_names_every_method_the_path_takes(memory_api: Api) -> None:
    answer = await memory_api.client.put(LOCK, headers=memory_api.auth())
    assert answer.status_code == 405
    assert answer.json()["error"] == "METHOD_NOT_ALLOWED"
    methods = {m.strip() for m in answer.headers["allow"].split(",")}
    assert methods == {"GET", "POST", "DELETE", "OPTIONS"}


async def test_a_preflight_for_a_path_that_does_not_exist_is_a_404(cors_api: Api) -> None:
    answer = await cors_api.client.options("/v1/nope", headers=preflight("GET"))
    assert answer.status_code == 404
    assert "access-control-allow-origin" not in answer.headers


async def test_credentials_are_allowed_only_when_configured(tmp_path: Path) -> None:
    settings = app_settings(tmp_path, cors_origins=[APP], cors_allow_credentials=True)
    async with running_api(settings) as api:
        answer = await api.client.options(LOCK, headers=preflight("POST"))
        assert answer.headers["access-control-allow-credentials"] == "true"
        assert answer.headers["access-control-allow-origin"] == APP
        got = await api.client.get(LOCK, headers={"Origin": APP, **api.auth()})
        assert got.headers["access-control-allow-credentials"] == "true"


async def test_a_star_allows_every_origin_without_credentials(tmp_path: Path) -> None:
    async with running_api(app_settings(tmp_path, cors_origins="*")) as api:
        answer = await api.client.options(LOCK, headers=preflight("POST", OTHER))
        assert answer.status_code == 204
        assert answer.headers["access-control-allow-origin"] == "*"
        got = await api.client.get(LOCK, headers={"Origin": OTHER, **api.auth()})
        assert got.headers["access-control-allow-origin"] == "*"


async def test_the_client_module_may_be_imported_by_any_origin(memory_api: Api) -> None:
    answer = await memory_api.client.get("/client/huddle.js", headers={"Origin": OTHER})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "javascript" in answer.headers["content-type"]
    assert "export class Huddle" in answer.text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://a.example,https://b.example:8443", ["http://a.example", "https://b.example:8443"]),
        (' ["http://a.example/"] ', ["http://a.example"]),
        ("", []),
        ("*", ["*"]),
    ],
)
def test_origins_are_read_from_a_comma_separated_or_a_json_list(
    raw: str, expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUDDLE_CORS_ORIGINS", raw)
    assert Settings().cors_origins == expected


@pytest.mark.parametrize(
    "overrides",
    [
        {"cors_origins": ["http://a.example/path"]},
        {"cors_origins": ["a.example"]},
        {"cors_origins": ["*"], "cors_allow_credentials": True},
        {"allowed_origins": ["*"]},
    ],
)
def test_origin_settings_that_cannot_work_are_refused_at_startup(
    overrides: dict[str, object],
) -> None:
    with pytest.raises(ValidationError):
        Settings(**overrides)  # type: ignore[arg-type]  # the values under test are ill-typed on purpose
