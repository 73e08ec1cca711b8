"""Click options that several commands share, defined once."""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["image_ids", "progress_option"]

#: `--progress/--no-progress` (default on): progress bars on stderr; the command's function
#: gets `progress: bool`.
progress_option = click.option("--progress/--no-progress", default=True, show_default=True,
                               help="Progress bars on stderr.")


def image_ids(value: str | None) -> tuple[int, ...] | None:
    """The `--image-ids IDS|SPLITS.json` value: comma-separated BOP image ids, or a splits.json
    whose `fit` list is used (a plain JSON list also works); None when not given.

    Raises:
        click.BadParameter: not ids, or a negative id.
    """
    if value is None:
        return None
    p = Path(value)
    try:
        if p.suffix == ".json" and p.is_file():
            data = json.loads(p.read_text(encoding="utf-8"))
            listed = data.get("fit", []) if isinstance(data, dict) else data
            ids = tuple(int(v) for v in listed)
        else:
            ids = tuple(int(v) for v in value.split(","))
    except (ValueError, TypeError, json.JSONDecodeError):
        raise click.BadParameter(f"expected comma-separated image ids or a splits.json with a "
                                 f"'fit' list, got {value!r}", param_hint="--image-ids") from None
    if not ids or min(ids) < 0:
        raise click.BadParameter("image ids must be >= 0", param_hint="--image-ids")
    return ids
