"""The README's configuration table lists exactly the settings that exist."""

from __future__ import annotations

import re
from pathlib import Path

from huddle import Settings

README = Path(__file__).parents[2] / "README.md"


def test_readme_configuration_table_matches_settings() -> None:
    documented = set(re.findall(r"^\| `HUDDLE_([A-Z_]+)` \|", README.read_text(), re.MULTILINE))
    assert documented == {name.upper() for name in Settings.model_fields}
