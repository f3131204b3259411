"""Connections reset in the middle of a body: blob streams resume with Range from what was
already yielded (or skip bytes when the server ignores Range); manifests are fetched again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ctrpy.errors import NetworkError
from ctrpy.oci import mediatypes
from ctrpy.registry.client import Client
from tests.unit import registry_fakes as fakes

IMG = fakes.image(layer_size=200_000)


@pytest.fixture
def make_server() -> Iterator[type[fakes.RawBlobServer]]:
    servers: list[fakes.RawBlobServer] = []

    class Tracked(fakes.RawBlobServer):
        def __post_init__(self) -> None:
            super().__post_init__()
            servers.append(self)

    yield Tracked
    for s in servers:
        s.close()


def fetch(tmp_path: Path, server: fakes.RawBlobServer, offset: int = 0, **kw: object) -> bytes:
    with Client(fakes.options(tmp_path, **kw)) as c:
        r = fakes.ref(f"127.0.0.1:{server.port}")
        return b"".join(c.fetch_blob(r, IMG.layer_desc, offset=offset))


@pytest.mark.parametrize("reset", [True, False], ids=["rst", "fin"])
@pytest.mark.parametrize(
    ("cuts", "honour_range", "offset", "ranges"),
    [
        ([1000], True, 0, ["", "bytes=1000-"]),
        (
            [1000, 5000, 0, 7],
            True,
            0,
            ["", "bytes=1000-", "bytes=6000-", "bytes=6000-", "bytes=6007-"],
        ),
        ([1000], True, 150, ["bytes=150-", "bytes=1150-"]),
        ([1000], False, 0, ["", "bytes=1000-"]),
        # a server ignoring Range sends from byte 0 each time; the client skips what it has
        ([1000, 30_000], False, 500, ["bytes=500-", "bytes=1000-", "bytes=30000-"]),
    ],
    ids=[
        "one-reset",
        "several-resets",
        "reset-after-offset",
        "range-ignored",
        "range-ignored-with-offset",
    ],
)
def test_broken_stream_resumes_from_what_was_yielded(
    make_server: type[fakes.RawBlobServer],
    tmp_path: Path,
    cuts: list[int | None],
    honour_range: bool,
    offset: int,
    ranges: list[str],
    reset: bool,
) -> None:
    server = make_server(IMG.layer, cut_after=cuts, honour_range=honour_range, reset=reset)
    assert fetch(tmp_path, server, offset) == IMG.layer[offset:]
    assert [r["range"] for r in server.requests] == ranges


def test_a_stream_that_never_progresses_gives_up(
    make_server: type[fakes.RawBlobServer], tmp_path: Path
) -> None:
    server = make_server(IMG.layer, cut_after=[1000] + [0] * 20, reset=False)
    with pytest.raises(NetworkError) as info:
        fetch(tmp_path, server, retries=2)
    assert f"at byte 1000 of {len(IMG.layer)}" in info.value.message
    assert len(server.requests) == 3  # the one that broke, then 2 retries without progress
    assert info.value.hint is not None and "again" in info.value.hint


def test_truncated_manifest_is_fetched_again(
    make_server: type[fakes.RawBlobServer], tmp_path: Path
) -> None:
    server = make_server(IMG.manifest, cut_after=[10])
    with Client(fakes.options(tmp_path)) as c:
        r = fakes.ref(f"127.0.0.1:{server.port}")
        assert c.fetch_manifest(r, IMG.manifest_desc) == IMG.manifest
    assert [(q["method"], q["range"]) for q in server.requests] == [("GET", ""), ("GET", "")]
    assert IMG.manifest_desc.media_type == mediatypes.OCI_MANIFEST
