"""Click options that several commands share, defined once."""

from __future__ import annotations

import click

__all__ = ["progress_option"]

#: `--progress/--no-progress` (default on): progress bars on stderr; the command's function
#: gets `progress: bool`.
progress_option = click.option("--progress/--no-progress", default=True, show_default=True,
                               help="Progress bars on stderr.")
