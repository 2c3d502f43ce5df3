"""Seed 002 clients cannot define the declared-only field types (`uuid`, `object`, `list`):
an object or a field of one is refused 422 at its `type`, and nothing changes."""

from __future__ import annotations

import pytest

from .conftest import Api
from .test_custom_objects_api import FIELDS, OBJECTS, PROJECT, locs, root, simple_project


@pytest.mark.parametrize("type", ["uuid", "object", "list"])
async def test_a_declared_only_type_is_no_custom_field_type(memory_api: Api, type: str) -> None:
    api = memory_api
    async with api.unchanged():
        answer = await api.client.post(
            OBJECTS,
            json={"apiName": "project", "label": "P", "fields": [{"apiName": "x", "type": type}]},
            headers=root(api),
        )
        assert locs(answer) == [["body", "fields", 0, "type"]]
        assert f"'{type}'" not in answer.json()["detail"][0]["msg"]
    await simple_project(api)
    async with api.unchanged():
        added = await api.client.post(
            FIELDS, json={"apiName": "x", "type": type}, headers=root(api)
        )
        assert locs(added) == [["body", "type"]]
        changed = await api.client.patch(f"{FIELDS}/title", json={"type": type}, headers=root(api))
        assert ["body", "type"] in locs(changed)
    assert len((await api.client.get(PROJECT, headers=root(api))).json()["fields"]) == 7
