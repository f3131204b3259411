"""The exact progress events of a cold and a warm pull: real registry, real Client, real Store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ctrpy.events import Event, Status
from ctrpy.oci import platforms, reference
from ctrpy.pull import PullOptions, pull
from ctrpy.registry.client import Client, ClientOptions
from ctrpy.store import Store
from tests.support.images import Blob, ImageManifest, PushedImage, StandardImages

S = Status
AMD64 = PullOptions(platforms=(platforms.parse("linux/amd64"),), max_concurrent_downloads=1)


@pytest.fixture
def client() -> Iterator[Client]:
    with Client(ClientOptions()) as c:
        yield c


def key(kind: str, digest: str) -> str:
    return f"{kind}-{digest}"


def collapse(events: list[Event]) -> list[Event]:
    """Keep a download's first and last ``downloading`` event (chunking is the transport's)."""
    out: list[Event] = []
    for i, event in enumerate(events):
        following = events[i + 1] if i + 1 < len(events) else None
        middle = (
            event.status is S.DOWNLOADING
            and out
            and out[-1].key == event.key
            and out[-1].status is S.DOWNLOADING
            and following is not None
            and following.key == event.key
            and following.status is S.DOWNLOADING
        )
        if not middle:
            out.append(event)
    return out


def downloaded(kind: str, blob: Blob | ImageManifest) -> list[Event]:
    k, n = key(kind, blob.digest), blob.size
    return [Event(k, S.DOWNLOADING, 0, n), Event(k, S.DOWNLOADING, n, n), Event(k, S.DONE, n, n)]


def cold_sequence(img: PushedImage, ref: str, m: ImageManifest) -> list[Event]:
    blobs = [("config", m.config), *(("layer", b) for b in m.layers)]
    return [
        Event(ref, S.RESOLVING),
        Event(ref, S.RESOLVED),
        Event(key("index", img.digest), S.DOWNLOADING, 0, img.size),
        Event(key("index", img.digest), S.DONE, img.size, img.size),
        Event(key("manifest", m.digest), S.DOWNLOADING, 0, m.size),
        Event(key("manifest", m.digest), S.DONE, m.size, m.size),
        *(Event(key(kind, b.digest), S.WAITING, 0, b.size) for kind, b in blobs),
        *(e for kind, b in blobs for e in downloaded(kind, b)),
    ]


def warm_sequence(img: PushedImage, ref: str, m: ImageManifest) -> list[Event]:
    objects: list[tuple[str, PushedImage | ImageManifest | Blob]] = [
        ("index", img),
        ("manifest", m),
        ("config", m.config),
    ]
    objects += [("layer", b) for b in m.layers]
    return [
        Event(ref, S.RESOLVING),
        Event(ref, S.RESOLVED),
        *(Event(key(kind, o.digest), S.EXISTS, o.size, o.size) for kind, o in objects),
    ]


def test_cold_then_warm_pull_events(
    registry_images: StandardImages, client: Client, tmp_path: Path
) -> None:
    img = registry_images.hello_linux
    ref = img.ref("linux")
    m = img.manifest_for("linux/amd64")
    store = Store(tmp_path / "store")

    cold: list[Event] = []
    pull(reference.parse(ref), client, store, AMD64, cold.append)
    assert collapse(cold) == cold_sequence(img, ref, m)

    warm: list[Event] = []
    pull(reference.parse(ref), client, store, AMD64, warm.append)
    assert warm == warm_sequence(img, ref, m)


def test_download_offsets_only_grow_up_to_the_size(
    registry_images: StandardImages, client: Client, tmp_path: Path
) -> None:
    img = registry_images.shared_app1
    events: list[Event] = []
    opts = PullOptions(max_concurrent_downloads=3)
    pull(reference.parse(img.ref()), client, Store(tmp_path / "s"), opts, events.append)
    for blob in img.blobs:
        mine = [e for e in events if e.key.endswith(blob.digest)]
        statuses = [e.status for e in mine]
        assert statuses[0] is S.WAITING and statuses[-1] is S.DONE
        assert set(statuses[1:-1]) == {S.DOWNLOADING}
        offsets = [e.offset for e in mine[1:-1]]
        assert offsets == sorted(offsets) and offsets[-1] == blob.size
        assert all(e.total == blob.size for e in mine)


def test_concurrent_downloads_give_every_blob_its_own_complete_sequence(
    registry_images: StandardImages, client: Client, tmp_path: Path
) -> None:
    img = registry_images.shared_app2
    events: list[Event] = []
    opts = PullOptions(max_concurrent_downloads=3)
    pull(reference.parse(img.ref()), client, Store(tmp_path / "s"), opts, events.append)
    m = img.manifests[0]
    blob_keys = [key("config", m.config.digest), *(key("layer", b.digest) for b in m.layers)]
    # every waiting event comes before any download starts
    first_download = next(
        i for i, e in enumerate(events) if e.status is S.DOWNLOADING and e.key in blob_keys
    )
    assert [e.key for e in events[:first_download] if e.status is S.WAITING] == blob_keys
    done = [e.key for e in events if e.status is S.DONE and e.key in blob_keys]
    assert sorted(done) == sorted(blob_keys)
