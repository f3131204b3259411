"""Fixtures shared by the unit tests of the registry client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer


@pytest.fixture
def other_host_server() -> Iterator[HTTPServer]:
    """A second fake server under another host name (127.0.0.1) than pytest-httpserver's
    default one (localhost): a token realm or a redirect target on a different host."""
    server = HTTPServer(host="127.0.0.1")
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()
