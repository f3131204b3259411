"""Progress events: what the core tells the CLI while it works.

The core never prints.  It calls a :data:`Reporter` with :class:`Event` values;
the CLI renders them (live on a terminal, plain lines in a pipe) and tests can
pass ``events.append`` to record the exact sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """The status words ctr prints, in the order a job goes through them."""

    RESOLVING = "resolving"
    RESOLVED = "resolved"
    WAITING = "waiting"
    DOWNLOADING = "downloading"
    DONE = "done"
    EXISTS = "exists"


@dataclass(frozen=True, slots=True)
class Event:
    """One job's state.

    ``key`` is the reference for the resolve job (``docker.io/library/x:tag``)
    or ``<kind>-<digest>`` for content (``index-sha256:…``, ``manifest-sha256:…``,
    ``config-sha256:…``, ``layer-sha256:…``).  ``offset`` is bytes done so far
    and ``total`` the expected size when known.
    """

    key: str
    status: Status
    offset: int = 0
    total: int | None = None


Reporter = Callable[[Event], None]


def ignore(event: Event) -> None:
    """A Reporter that drops every event (for --quiet and for library callers)."""
