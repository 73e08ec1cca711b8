"""The `synthgap` command line: a click group whose commands load lazily, one module each.

Machine-readable summaries go to stdout; logs and progress bars go to stderr.
"""

from __future__ import annotations

import importlib

import click

from synthgap import __version__

# command name -> "module:attribute"; modules are imported only when their command runs
# (or when `--help` lists them), so `synthgap --version` never imports torch or OpenGL.
COMMANDS: dict[str, str] = {
    "adapt": "synthgap.cli.adapt:adapt",
    "gap": "synthgap.cli.gap:gap",
    "export": "synthgap.cli.export:export",
    "preview": "synthgap.cli.preview:preview",
    "run": "synthgap.cli.run:run",
    "demo": "synthgap.cli.demo:demo",
    "render": "synthgap.cli.render:render",
    "validate": "synthgap.cli.validate:validate",
}


class LazyGroup(click.Group):
    """A click group that imports each command's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="synthgap")
def main() -> None:
    """synthgap: CAD -> labelled, real-looking training images."""
