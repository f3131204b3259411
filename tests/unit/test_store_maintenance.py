"""Store maintenance: gc (reachability, ingest cleanup, dry run) and check (re-hash)."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from ctrpy.errors import StoreError
from ctrpy.oci import mediatypes
from ctrpy.oci.descriptor import Descriptor, Platform
from ctrpy.oci.digest import Digest
from ctrpy.store import Store


def desc_of(data: bytes, media_type: str, platform: Platform | None = None) -> Descriptor:
    return Descriptor(media_type, Digest.of(data), len(data), platform=platform)


@dataclass(frozen=True)
class Image:
    manifest: Descriptor
    config: Descriptor
    layers: tuple[Descriptor, ...]


def add_image(store: Store, tag: str, layers: list[bytes], *, store_layers: bool = True) -> Image:
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    cd = desc_of(config, mediatypes.OCI_CONFIG)
    lds = tuple(desc_of(b, mediatypes.OCI_LAYER_GZIP) for b in layers)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": cd.to_json(),
            "layers": [d.to_json() for d in lds],
        }
    ).encode()
    md = desc_of(manifest, mediatypes.OCI_MANIFEST, Platform("linux", "amd64"))
    store.content.put(cd, config)
    if store_layers:
        for d, b in zip(lds, layers, strict=True):
            store.content.put(d, b)
    store.content.put(md, manifest)
    return Image(md, cd, lds)


def add_index(store: Store, name: str, manifests: list[Descriptor]) -> Descriptor:
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_INDEX,
            "manifests": [m.to_json() for m in manifests],
        }
    ).encode()
    d = desc_of(body, mediatypes.OCI_INDEX)
    store.content.put(d, body)
    store.images.put(name, d)
    return d


def blob_path(d: Descriptor) -> str:
    return f"blobs/sha256/{d.digest.hex}"


# --- gc -----------------------------------------------------------------------------------


def test_gc_removes_only_what_no_image_references(tmp_path: Path) -> None:
    store = Store(tmp_path)
    shared = b"shared layer" * 100
    one = add_image(store, "one", [shared, b"only in one"])
    two = add_image(store, "two", [shared, b"only in two"])
    # An index whose other platform's manifest is not stored: skipped, not an error.
    absent = desc_of(b"arm64 manifest", mediatypes.OCI_MANIFEST, Platform("linux", "arm64"))
    index_one = add_index(store, "docker.io/library/one:1", [one.manifest, absent])
    store.images.put("docker.io/library/two:1", two.manifest)
    stray = desc_of(b"stray", mediatypes.OCI_LAYER_GZIP)
    store.content.put(stray, b"stray")

    first_dry = store.gc(dry_run=True)
    assert [(r.path, r.reason) for r in first_dry.removed] == [
        (blob_path(stray), "unreferenced blob")
    ]
    assert store.gc().removed == first_dry.removed
    assert store.content.has_digest(one.config.digest)
    assert not store.content.has_digest(stray.digest)  # the only unreferenced blob went

    assert store.images.remove("docker.io/library/one:1")
    doomed = [index_one, one.manifest, one.config, one.layers[1]]
    dry = store.gc(dry_run=True)
    assert dry.dry_run
    assert sorted(r.path for r in dry.removed) == sorted(blob_path(d) for d in doomed)
    assert {r.reason for r in dry.removed} == {"unreferenced blob"}
    assert dry.bytes_freed == sum(d.size for d in doomed)
    assert all(store.content.has(d) for d in doomed)  # a dry run removes nothing

    result = store.gc()
    assert not result.dry_run
    assert sorted(r.path for r in result.removed) == sorted(r.path for r in dry.removed)
    assert {r.digest for r in result.removed} == {d.digest for d in doomed}
    assert result.bytes_freed == dry.bytes_freed
    assert not any(store.content.has_digest(d.digest) for d in doomed)
    for d in (two.manifest, two.config, *two.layers):
        assert store.content.has(d)
    assert store.check() == []
    assert store.gc().removed == ()


def test_gc_cleans_ingest(tmp_path: Path) -> None:
    store = Store(tmp_path)
    add_image(store, "x", [b"layer"])
    old = desc_of(b"old partial content", mediatypes.OCI_LAYER_GZIP)
    new = desc_of(b"new partial content", mediatypes.OCI_LAYER_GZIP)
    for d in (old, new):
        with store.content.writer(d) as w:
            w.write(b"partial")  # left without commit: kept for resume
    old_partial = tmp_path / "ingest" / f"sha256-{old.digest.hex}.partial"
    new_partial = tmp_path / "ingest" / f"sha256-{new.digest.hex}.partial"
    two_days_ago = time.time() - 2 * 86400
    os.utime(old_partial, (two_days_ago, two_days_ago))
    stale_lock = tmp_path / "ingest" / f"sha256-{old.digest.hex}.lock"
    stale_lock.write_bytes(b"")  # as a SIGKILLed writer leaves it
    temp = tmp_path / "index.json.0123456789ab.tmp"
    temp.write_bytes(b"{")  # as a crash during an index update leaves it

    result = store.gc()
    by_reason = {r.reason: r.path for r in result.removed}
    assert by_reason == {
        "stale partial download": f"ingest/sha256-{old.digest.hex}.partial",
        "stale lock file": f"ingest/sha256-{old.digest.hex}.lock",
        "leftover temp file": "index.json.0123456789ab.tmp",
        "unreferenced blob": by_reason["unreferenced blob"],  # the manifest: x is not named
    }
    assert not old_partial.exists()
    assert new_partial.exists()  # younger than a day: still resumable
    assert not stale_lock.exists()
    assert not temp.exists()
    assert store.gc(ingest_max_age=timedelta(0)).removed[0].path == (
        f"ingest/sha256-{new.digest.hex}.partial"
    )


def test_gc_stops_on_a_damaged_manifest(tmp_path: Path) -> None:
    store = Store(tmp_path)
    image = add_image(store, "x", [b"layer"])
    store.images.put("docker.io/library/x:1", image.manifest)
    stray = desc_of(b"stray", mediatypes.OCI_LAYER_GZIP)
    store.content.put(stray, b"stray")
    path = store.content.path(image.manifest.digest)
    path.chmod(0o644)
    path.write_bytes(b"{" + b" " * (image.manifest.size - 1))
    with pytest.raises(StoreError, match="gc stopped, nothing was removed") as info:
        store.gc()
    assert store.content.has(stray)
    assert store.content.has(image.layers[0])
    # the hint names the damaged file; once it is gone, gc runs
    assert (info.value.hint or "").startswith(f"remove {path} and pull the image")
    path.unlink()
    assert store.gc().removed


def test_gc_waits_for_a_lease(tmp_path: Path) -> None:
    """gc takes gc.lock exclusively; a pull holds it shared (here: from a thread)."""
    store = Store(tmp_path)
    stray = desc_of(b"just pulled", mediatypes.OCI_LAYER_GZIP)
    done = threading.Event()
    with store.lease():
        store.content.put(stray, b"just pulled")

        def collect() -> None:
            store.gc()
            done.set()

        thread = threading.Thread(target=collect, daemon=True)
        thread.start()
        assert not done.wait(0.2)
        assert store.content.has(stray)  # not collected while the lease is held
    thread.join(60)
    assert done.is_set()
    assert not store.content.has(stray)


# --- check --------------------------------------------------------------------------------


def test_check_finds_every_kind_of_problem(tmp_path: Path) -> None:
    store = Store(tmp_path)
    good = add_image(store, "good", [b"good layer"])
    store.images.put("docker.io/library/good:1", good.manifest)
    bad = add_image(store, "bad", [b"bad layer"])
    store.images.put("docker.io/library/bad:1", bad.manifest)
    incomplete = add_image(store, "incomplete", [b"never downloaded"], store_layers=False)
    absent = desc_of(b"other platform", mediatypes.OCI_MANIFEST, Platform("linux", "s390x"))
    add_index(store, "docker.io/library/incomplete:1", [incomplete.manifest, absent])
    store.images.put("docker.io/library/gone:1", desc_of(b"gone", mediatypes.OCI_INDEX))

    assert store.check() == [
        p for p in store.check() if p.kind == "missing"
    ]  # only the missing ones so far
    corrupt = store.content.path(bad.layers[0].digest)
    corrupt.chmod(0o644)
    corrupt.write_bytes(b"BAD layer")
    (tmp_path / "blobs" / "sha256" / "not-a-digest").write_bytes(b"?")
    (tmp_path / "ingest" / "index.json.abc.tmp").write_bytes(b"")

    problems = {(p.kind, p.path): p for p in store.check()}
    assert set(problems) == {
        ("corrupt", blob_path(bad.layers[0])),
        ("unexpected", "blobs/sha256/not-a-digest"),
        ("temp", "ingest/index.json.abc.tmp"),
        ("missing", blob_path(incomplete.layers[0])),
        ("missing", f"blobs/sha256/{Digest.of(b'gone').hex}"),
    }
    corrupt_problem = problems[("corrupt", blob_path(bad.layers[0]))]
    assert corrupt_problem.digest == bad.layers[0].digest
    assert corrupt_problem.actual == Digest.of(b"BAD layer")
    assert str(Digest.of(b"BAD layer")) in corrupt_problem.detail
