"""The README's scene reference lists every field of the schema (docs cannot drift)."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthgap.scenes.reference import SECTIONS, field_rows, reference_markdown

README = Path(__file__).parents[2] / "README.md"


def scene_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- section:scene-reference (scenes) -->")
    return text[start:text.index("<!-- /section:scene-reference -->")]


@pytest.mark.parametrize(("title", "model"), SECTIONS, ids=[t for t, _ in SECTIONS])
def test_every_field_is_documented(title, model):
    for key, _type, _default, meaning in field_rows(model):
        assert meaning, f"{model.__name__}.{key} has no docstring"


def test_readme_embeds_the_current_reference():
    assert reference_markdown().strip() in scene_section()
