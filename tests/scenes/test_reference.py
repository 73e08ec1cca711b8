"""docs/scenes.md's field reference lists every field of the schema (docs cannot drift)."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthgap.scenes.reference import SECTIONS, field_rows, reference_markdown

SCENES_PAGE = Path(__file__).parents[2] / "docs" / "scenes.md"


def scene_section() -> str:
    text = SCENES_PAGE.read_text(encoding="utf-8")
    start = text.index("<!-- section:scene-reference (scenes) -->")
    return text[start:text.index("<!-- /section:scene-reference -->")]


@pytest.mark.parametrize(("title", "model"), SECTIONS, ids=[t for t, _ in SECTIONS])
def test_every_field_is_documented(title, model):
    for key, _type, _default, meaning in field_rows(model):
        assert meaning, f"{model.__name__}.{key} has no docstring"


def test_scenes_page_embeds_the_current_reference():
    assert reference_markdown().strip() in scene_section()
