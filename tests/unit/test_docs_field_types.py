"""docs/api.md shows exactly the field-type table that `FIELD_TYPE_TABLE` describes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from huddle.engine.fields import FIELD_TYPE_TABLE

API_DOC = Path(__file__).parents[2] / "docs" / "api.md"
START, END = "<!-- field-types:start -->", "<!-- field-types:end -->"
INDEX_WORDS = {"n": "number", "s": "text"}


def render(rows: Iterable[tuple[str, str, str, str, bool, str]]) -> str:
    """The Markdown table of the field types, one row per type, in table order."""
    lines = [
        "| Type | JSON value | Canonical form | Index | Unique allowed | Notes |",
        "|---|---|---|---|---|---|",
    ]
    for type_, json, canonical, index_kind, unique, notes in rows:
        cells = [f"`{type_}`", json, canonical, INDEX_WORDS[index_kind], "yes" if unique else "no"]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in [*cells, notes]) + " |")
    return "\n".join(lines)


def test_api_doc_field_type_table_is_generated_from_the_code() -> None:
    """The text between the field-types markers is the rendered FIELD_TYPE_TABLE."""
    found = re.search(re.escape(START) + r"\n(.*?)\n" + re.escape(END), API_DOC.read_text(), re.S)
    assert found is not None, f"docs/api.md lacks the {START} ... {END} markers"
    assert found.group(1) == render(FIELD_TYPE_TABLE), (
        "docs/api.md's field-type table is out of date; paste the output of\n"
        ".venv/bin/python -c 'from tests.unit.test_docs_field_types import render; "
        "from huddle.engine.fields import FIELD_TYPE_TABLE; print(render(FIELD_TYPE_TABLE))'"
    )
