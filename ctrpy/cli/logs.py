"""Wire the ``ctrpy`` loggers to stderr: warnings always, the request trace with --debug."""

from __future__ import annotations

import logging
from collections.abc import Callable

import click

Sink = Callable[[str], None]
_sink: Sink | None = None


def divert(sink: Sink | None) -> None:
    """Send log lines to ``sink`` (the live progress display, which prints them above its
    rows) instead of straight to stderr; None restores stderr."""
    global _sink
    _sink = sink


class _EchoHandler(logging.Handler):
    """Writes through click, so the current stderr is used (CliRunner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            if _sink is not None:
                _sink(line)
            else:
                click.echo(line, err=True)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


class _Formatter(logging.Formatter):
    def __init__(self, debug: bool) -> None:
        super().__init__()
        self._debug = debug

    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname.lower()
        message = record.getMessage()
        if self._debug:
            return f"{level}: {record.name}: {message}"
        return f"{level}: {message}"


def configure(*, debug: bool) -> None:
    """Idempotent: one handler on the ``ctrpy`` logger, whatever ran before in this process."""
    logger = logging.getLogger("ctrpy")
    for handler in list(logger.handlers):
        if isinstance(handler, _EchoHandler):
            logger.removeHandler(handler)
    handler = _EchoHandler()
    handler.setFormatter(_Formatter(debug))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    logger.propagate = False


def reset() -> None:
    """Undo :func:`configure` when a command ends, so a process that runs the CLI more than
    once (tests, embedding) is left with the ``ctrpy`` logger as it found it."""
    logger = logging.getLogger("ctrpy")
    for handler in list(logger.handlers):
        if isinstance(handler, _EchoHandler):
            logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True
