"""Image records in index.json: put, replace, remove, list; atomic writes; corrupt files."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from ctrpy.errors import InvalidReference, StoreError
from ctrpy.oci import mediatypes
from ctrpy.oci.descriptor import Descriptor, Platform
from ctrpy.oci.digest import Digest
from ctrpy.store import Store


def desc_of(data: bytes, media_type: str = mediatypes.OCI_INDEX) -> Descriptor:
    return Descriptor(media_type, Digest.of(data), len(data))


def index_doc(root: Path) -> dict[str, object]:
    doc = json.loads((root / "index.json").read_bytes())
    assert isinstance(doc, dict)
    return doc


NAME = "docker.io/library/hello-world:linux"


def test_put_writes_an_oci_index_entry(tmp_path: Path) -> None:
    store = Store(tmp_path)
    target = desc_of(b"index")
    record = store.images.put(NAME, target)
    assert record.name == NAME
    assert record.target == target
    assert record.created == record.updated
    assert record.created.tzinfo is not None
    doc = index_doc(tmp_path)
    assert doc["schemaVersion"] == 2
    assert doc["mediaType"] == mediatypes.OCI_INDEX
    assert doc["manifests"] == [
        {
            "mediaType": mediatypes.OCI_INDEX,
            "digest": str(target.digest),
            "size": target.size,
            "annotations": {
                "io.containerd.image.name": NAME,
                "org.opencontainers.image.ref.name": NAME,
                "io.ctrpy.image.created": record.created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "io.ctrpy.image.updated": record.updated.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            },
        }
    ]
    assert store.images.get(NAME) == record
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []


def test_put_replaces_a_name_keeping_created(tmp_path: Path) -> None:
    store = Store(tmp_path)
    first = store.images.put(NAME, desc_of(b"old"))
    other = store.images.put("docker.io/library/alpine:3", desc_of(b"alpine"))
    second = store.images.put(NAME, desc_of(b"new", mediatypes.OCI_MANIFEST))
    assert second.created == first.created
    assert second.updated >= first.updated
    assert second.target == desc_of(b"new", mediatypes.OCI_MANIFEST)
    assert store.images.list() == [other, second]  # one entry per name, sorted
    assert len(index_doc(tmp_path)["manifests"]) == 2  # type: ignore[arg-type]


def test_list_is_sorted_by_name(tmp_path: Path) -> None:
    store = Store(tmp_path)
    names = ["quay.io/b/c:1", "docker.io/library/z:latest", "127.0.0.1:5000/a:1", "docker.io/a/b:2"]
    for name in names:
        store.images.put(name, desc_of(name.encode()))
    assert [r.name for r in store.images.list()] == sorted(names)


def test_target_keeps_platform_and_its_own_annotations(tmp_path: Path) -> None:
    store = Store(tmp_path)
    target = Descriptor(
        mediatypes.OCI_MANIFEST,
        Digest.of(b"m"),
        1,
        platform=Platform("linux", "arm64", "v8"),
        annotations={"org.opencontainers.image.revision": "abc"},
    )
    record = store.images.put(NAME, target)
    assert record.target == target
    assert record.target.annotations == {"org.opencontainers.image.revision": "abc"}
    assert store.images.get(NAME) == record


def test_remove(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.images.put(NAME, desc_of(b"a"))
    keep = store.images.put("docker.io/library/b:1", desc_of(b"b"))
    assert store.images.remove(NAME) is True
    assert store.images.remove(NAME) is False
    assert store.images.get(NAME) is None
    assert store.images.list() == [keep]


@pytest.mark.parametrize(
    "name", ["", "a b", "name\n", "tab\there", "\x00"], ids=["empty", "space", "nl", "tab", "nul"]
)
def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidReference):
        Store(tmp_path / "s").images.put(name, desc_of(b"x"))
    assert not (tmp_path / "s").exists()


def test_a_missing_index_json_is_tolerated(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.images.put(NAME, desc_of(b"x"))
    (tmp_path / "index.json").unlink()
    assert store.images.list() == []
    assert store.images.get(NAME) is None
    store.images.put(NAME, desc_of(b"y"))
    assert [r.target for r in store.images.list()] == [desc_of(b"y")]


def test_foreign_entries_are_kept(tmp_path: Path) -> None:
    """Entries written by other tools (skopeo, oras) survive ctrpy's updates."""
    store = Store(tmp_path)
    store.images.put(NAME, desc_of(b"x"))
    doc = index_doc(tmp_path)
    unnamed = {"mediaType": mediatypes.OCI_MANIFEST, "digest": str(Digest.of(b"u")), "size": 1}
    tagged = {
        "mediaType": mediatypes.OCI_MANIFEST,
        "digest": str(Digest.of(b"t")),
        "size": 1,
        "annotations": {"org.opencontainers.image.ref.name": "v1"},
    }
    doc["manifests"] = [*doc["manifests"], unnamed, tagged]  # type: ignore[misc]
    doc["annotations"] = {"made.by": "another tool"}
    (tmp_path / "index.json").write_text(json.dumps(doc))
    store.images.put("docker.io/library/other:1", desc_of(b"o"))
    store.images.remove(NAME)
    after = index_doc(tmp_path)
    assert unnamed in after["manifests"]  # type: ignore[operator]
    assert tagged in after["manifests"]  # type: ignore[operator]
    assert after["annotations"] == {"made.by": "another tool"}
    assert [r.name for r in store.images.list()] == ["docker.io/library/other:1", "v1"]
    assert {d.digest for d in store.images.descriptors()} == {
        Digest.of(b"u"),
        Digest.of(b"t"),
        Digest.of(b"o"),
    }


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b'{"schemaVersion": 2, "manifests": [', id="truncated"),
        pytest.param(b"[]", id="not-an-object"),
        pytest.param(b'{"schemaVersion": 1, "manifests": []}', id="schema-1"),
        pytest.param(b'{"schemaVersion": 2, "manifests": {}}', id="manifests-not-a-list"),
        pytest.param(
            b'{"schemaVersion": 2, "manifests": [{"mediaType": "a/b", "digest": "sha256:../x",'
            b' "size": 1}]}',
            id="bad-digest",
        ),
        pytest.param(b"\xff\xfe", id="not-utf8"),
    ],
)
def test_a_corrupt_index_json_is_a_clear_error_and_is_not_wiped(
    tmp_path: Path, body: bytes
) -> None:
    store = Store(tmp_path)
    store.images.put(NAME, desc_of(b"x"))
    (tmp_path / "index.json").write_bytes(body)
    for call in (
        store.images.list,
        lambda: store.images.get(NAME),
        lambda: store.images.put("docker.io/library/new:1", desc_of(b"n")),
        lambda: store.images.remove(NAME),
    ):
        with pytest.raises(StoreError, match=r"index\.json .* is corrupt") as info:
            call()
        assert "move it aside" in (info.value.hint or "")
    assert (tmp_path / "index.json").read_bytes() == body


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO], ids=["full", "io-error"])
def test_a_failed_index_write_leaves_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    store = Store(tmp_path)
    store.images.put(NAME, desc_of(b"x"))
    before = (tmp_path / "index.json").read_bytes()
    real = os.write

    def full(fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(tmp_path)):
            raise OSError(code, os.strerror(code))
        return real(fd, data)

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StoreError, match=r"cannot write index\.json") as info:
        store.images.put("docker.io/library/new:1", desc_of(b"n"))
    monkeypatch.undo()
    assert os.strerror(code) in info.value.message
    assert (tmp_path / "index.json").read_bytes() == before
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []
    assert [r.name for r in store.images.list()] == [NAME]
