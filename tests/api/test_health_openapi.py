"""Health probes, and an OpenAPI document with examples for every route."""

from __future__ import annotations

from .conftest import Api


async def test_healthz_and_readyz_answer_without_credentials(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = (await api.client.get("/readyz")).json()
    assert ready["status"] == "ready"


async def test_openapi_has_a_request_and_response_example_for_every_route(memory_api: Api) -> None:
    spec = (await memory_api.client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]

    def has_example(schema: dict) -> bool:
        if "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        return bool(schema.get("examples") or schema.get("example"))

    missing = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            ok = (
                op["responses"].get("200")
                or op["responses"].get("201")
                or op["responses"].get("204")
            )
            content = (ok or {}).get("content", {}).get("application/json")
            if content and not (content.get("example") or has_example(content["schema"])):
                missing.append(f"{method} {path} response")
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body and not has_example(body["schema"]) and "anyOf" not in body["schema"]:
                missing.append(f"{method} {path} request")
            for param in op.get("parameters", []):
                if param["in"] == "path" and not (
                    param.get("examples") or param["schema"].get("examples")
                ):
                    missing.append(f"{method} {path} {param['name']}")
    assert not missing, missing


async def test_the_seed_000_and_003_paths_are_served(memory_api: Api) -> None:
    paths = (await memory_api.client.get("/openapi.json")).json()["paths"]
    expected = {
        "/v1/collaboration/presence/{entityType}/{entityId}": {"get"},
        "/v1/collaboration/presence/{entityType}/{entityId}/count": {"get"},
        "/v1/collaboration/presence/summary": {"post"},
        "/v1/collaboration/locks/{entityType}/{entityId}": {"get", "post", "delete"},
        "/v1/collaboration/locks/{entityType}/{entityId}/refresh": {"post"},
        "/v1/collaboration/locks/{entityType}/{entityId}/owned": {"get"},
        "/v1/collaboration/locks/my-locks": {"get"},
        "/v1/collaboration/locks/{entityType}/{entityId}/force": {"delete"},
        "/v1/orgs/{org_id}/workspaces/{workspace_id}/sync/presence/join": {"post"},
        "/v1/orgs/{org_id}/workspaces/{workspace_id}/sync/presence/leave": {"post"},
        "/v1/orgs/{org_id}/workspaces/{workspace_id}/sync/presence/viewing": {"post"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths.get(path, {})), path


async def test_docs_page_is_served(memory_api: Api) -> None:
    answer = await memory_api.client.get("/docs")
    assert answer.status_code == 200 and "swagger" in answer.text.lower()
