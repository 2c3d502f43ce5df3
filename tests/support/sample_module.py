"""A sample module served from its declaration alone (no code of its own): seed-004-like
tasks, in WorkDrive's style, with an audience, nested objects, lists of values and of
references, and bulk routes. Used by tests/api/test_declared_module.py; not in the product."""

from __future__ import annotations

from typing import Final

from huddle.api.declared.module import Module, QueryFilter, Route
from huddle.api.declared.workdrive import WorkDriveStyle
from huddle.engine.declarations import Collection, Permissions, listed
from huddle.engine.fields import FieldSpec

STYLE: Final = WorkDriveStyle()


def text(name: str, **kwargs: object) -> FieldSpec:
    return FieldSpec(key=name, name=name, type="text", **kwargs)  # type: ignore[arg-type]


PROJECTS: Final = Collection(
    name="sample_project",
    fields=(text("name", required=True, unique=True),),
    events="sample_project",
)

TASKS: Final = Collection(
    name="sample_task",
    fields=(
        text("title", required=True),
        FieldSpec(key="dueAt", name="dueAt", type="datetime"),
        FieldSpec(
            key="location",
            name="location",
            type="object",
            shape=(text("textAddress", required=True), FieldSpec("lat", "lat", "number")),
        ),
        FieldSpec(key="tags", name="tags", type="list", item=text("tag"), max_items=10),
        FieldSpec(key="assignees", name="assignees", type="list", item=text("user")),
        FieldSpec(
            key="projects",
            name="projects",
            type="list",
            item=FieldSpec("project", "project", "reference", reference=PROJECTS.name),
        ),
        FieldSpec(
            key="permissions",
            name="permissions",
            type="object",
            shape=(
                FieldSpec("users", "users", "list", item=text("user")),
                FieldSpec("departments", "departments", "list", item=text("department")),
            ),
        ),
    ),
    events="sample_task",
    lock_type="sample_task",
    public_ids=True,
    permissions=Permissions(update="member", delete="owner"),
    audience=listed(users="permissions.users", groups={"department": "permissions.departments"}),
)

PROJECT_MODULE: Final = Module(
    collection=PROJECTS,
    path="/api/sample-projects",
    style=STYLE,
    title="Project",
    list_key="projects",
    routes=(Route("list", "GET"), Route("create", "POST")),
    example={"name": "Apollo"},
)

TASK_MODULE: Final = Module(
    collection=TASKS,
    path="/api/sample-tasks",
    style=STYLE,
    title="Task",
    list_key="tasks",
    routes=(
        Route("list", "GET"),
        Route("create", "POST"),
        Route("bulk_create", "POST", "/bulk-create"),
        Route("bulk_delete", "DELETE", "/bulk-delete"),
        Route("get", "GET", "/{id}"),
        Route("update", "PATCH", "/{id}"),
        Route("delete", "DELETE", "/{id}"),
    ),
    filters=(
        QueryFilter("tag", "tags", "Tasks with any of these tags", many=True),
        QueryFilter("project", "projects", "Tasks of this project"),
    ),
    example={
        "title": "Ship it",
        "dueAt": "2026-12-24T17:00:00.000Z",
        "location": {"textAddress": "Main St 1", "lat": 52.5},
        "tags": ["release"],
        "assignees": [],
        "projects": [],
        "permissions": {"users": [], "departments": []},
    },
)

SAMPLE_MODULES: Final = (PROJECT_MODULE, TASK_MODULE)
