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
    "align": "synthgap.cli.align:align",
    "gap": "synthgap.cli.gap:gap",
    "export": "synthgap.cli.export:export",
    "preview": "synthgap.cli.preview:preview",
    "run": "synthgap.cli.run:run",
    "demo": "synthgap.cli.demo:demo",
    "evaluate": "synthgap.cli.evaluate:evaluate",
    "render": "synthgap.cli.render:render",
    "scene": "synthgap.cli.scene:scene",
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
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command

    def invoke(self, ctx: click.Context) -> object:
        # A path the OS refuses (a folder under a file, no permission, disk full) is the user's
        # to fix: say which path and why instead of a traceback from deep inside a writer.
        try:
            return super().invoke(ctx)
        except OSError as exc:
            raise click.ClickException(_describe_os_error(exc)) from exc


def _describe_os_error(exc: OSError) -> str:
    """`path: reason` for an OSError, with a hint for the common cases."""
    where = exc.filename if exc.filename is not None else ""
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    reason = exc.strerror or str(exc)
    hints = {
        "ENOSPC": "free some disk space and run the same command again (finished images are kept)",
        "EACCES": "choose a folder you can write to",
        "ENOTDIR": "a part of this path is a file, not a folder: choose another output path",
        "EISDIR": "this path is a folder: give a file name",
        "EEXIST": "a file is in the way: choose another output path",
        "EROFS": "the filesystem is read-only: choose another output path",
    }
    import errno

    hint = hints.get(errno.errorcode.get(exc.errno or 0, ""), "")
    text = f"{where}: {reason}" if where else reason
    return f"{text}; {hint}" if hint else text


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="synthgap")
def main() -> None:
    """synthgap: CAD -> labelled, real-looking training images."""
