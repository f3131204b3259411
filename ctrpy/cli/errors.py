"""How failures reach the user: ``error: ...`` and ``hint: ...`` on stderr and an exit code.

No traceback unless --debug; Ctrl-C exits 130 (partial downloads stay and resume).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import click

from ctrpy.errors import CtrpyError

#: exit code of a run stopped by Ctrl-C (128 + SIGINT), as shells report it
INTERRUPTED = 130


@dataclass
class _State:
    """Set by the root command's callback once options are parsed."""

    debug: bool = False
    #: set once a command starts downloading: only then can Ctrl-C leave partial downloads
    downloading: bool = False


state = _State()


def show(exc: CtrpyError) -> None:
    """Print a ctrpy error the way every command does."""
    if state.debug:
        traceback.print_exception(exc, file=sys.stderr)
    width = _terminal_width()
    click.echo(wrap_message("error: ", exc.message, width), err=True)
    if exc.hint:
        click.echo(wrap_message("hint: ", exc.hint, width), err=True)


def _terminal_width() -> int | None:
    """The width of stderr when it is a terminal (None in a pipe: one line per message)."""
    isatty = getattr(sys.stderr, "isatty", None)
    if not (isatty and isatty()):
        return None
    import shutil

    return shutil.get_terminal_size().columns


def wrap_message(label: str, text: str, width: int | None) -> str:
    """``label text``; on a terminal broken between words, continued under the text."""
    line = label + text
    if width is None or len(line) <= width or "\n" in text:
        return line
    import textwrap

    return textwrap.fill(
        line,
        width=width,
        subsequent_indent=" " * len(label),
        break_long_words=False,
        break_on_hyphens=False,
    )


def run(invoke: Callable[[], object]) -> None:
    """Run the click app and exit with the right code, whatever happened."""
    state.debug = state.downloading = False
    code = 0
    try:
        result = invoke()
        code = result if isinstance(result, int) else 0
    except CtrpyError as exc:
        show(exc)
        code = exc.exit_code
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        code = _usage(exc)
    except (KeyboardInterrupt, click.exceptions.Abort):
        # click has already ended the progress line with a newline
        click.echo("error: interrupted", err=True)
        if state.downloading:
            click.echo("hint: partial downloads are kept; the next pull resumes them", err=True)
        code = INTERRUPTED
    except BrokenPipeError:
        code = _broken_pipe()
    except Exception as exc:
        if state.debug:
            raise
        click.echo(f"error: internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo("hint: run again with --debug to see the traceback, and report it", err=True)
        code = 1
    sys.exit(code)


def _usage(exc: click.ClickException) -> int:
    click.echo(f"error: {exc.format_message()}", err=True)
    ctx = getattr(exc, "ctx", None)
    if isinstance(ctx, click.Context):
        click.echo(f"hint: see '{ctx.command_path} --help'", err=True)
    return exc.exit_code


def _broken_pipe() -> int:
    # stdout went away (`ctrpy image ls | head -1`): quietly stop, like other CLI tools.
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 1
