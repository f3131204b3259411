"""Interop: skopeo (Debian's 1.9) reads and copies images in a ctrpy store: written through
the Store API, and left by a real `ctrpy image pull`.

The store root is a standard OCI image layout; skopeo resolves ``oci:<root>:<name>``
by the ``org.opencontainers.image.ref.name`` annotation, which ctrpy sets to the fully
qualified image name.

Known limit of skopeo 1.9 (containers/image 5.23): its OCI layout transport only looks
at index.json entries whose mediaType is an OCI manifest or index, so images whose top
object is a Docker schema 2 manifest or manifest list (recorded with their true media
type) are not found by name.  ctrpy does not rewrite media types to hide that.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ctrpy.oci import mediatypes, reference
from ctrpy.oci.descriptor import Descriptor, Platform
from ctrpy.oci.digest import Digest
from ctrpy.store import Store
from tests.support import ctrpy_command, images

pytestmark = pytest.mark.integration

GUARD = 120.0


def layer(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """A reproducible tar and its gzip."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return raw, gzip.compress(raw, mtime=0)


def put(store: Store, media_type: str, body: bytes, platform: Platform | None = None) -> Descriptor:
    desc = Descriptor(media_type, Digest.of(body), len(body), platform=platform)
    with store.content.writer(desc) as w:  # the streaming path, as pulls write layers
        if not w.exists:
            for i in range(0, len(body), 1000):
                w.write(body[i : i + 1000])
            w.commit()
    return desc


@dataclass(frozen=True)
class Built:
    top: Descriptor
    body: bytes
    arch: str  # of the manifest skopeo inspects on this amd64 machine
    layers: tuple[Descriptor, ...]


def image_manifest(store: Store, arch: str) -> tuple[Descriptor, bytes]:
    raw, gz = layer({"hello.txt": f"hello from {arch}\n".encode(), "etc/os-release": b"ID=test\n"})
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/hello"]},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
        }
    ).encode()
    manifest_type = mediatypes.OCI_MANIFEST
    cd = put(store, mediatypes.OCI_CONFIG, config)
    ld = put(store, mediatypes.OCI_LAYER_GZIP, gz)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": cd.to_json(),
            "layers": [ld.to_json()],
        },
        indent=3,
    ).encode()
    md = Descriptor(manifest_type, Digest.of(body), len(body), platform=Platform("linux", arch))
    store.content.put(md, body)
    return md, body


def build(store: Store, kind: str) -> Built:
    if kind == "oci-manifest":
        md, body = image_manifest(store, "amd64")
        manifest = json.loads(body)
        layers = tuple(Descriptor.from_json(x) for x in manifest["layers"])
        top = Descriptor(md.media_type, md.digest, md.size)
        return Built(top, body, "amd64", layers)
    assert kind == "oci-index"
    entries = [image_manifest(store, arch) for arch in ("amd64", "arm64")]
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_INDEX,
            "manifests": [md.to_json() for md, _ in entries],
        }
    ).encode()
    top = Descriptor(mediatypes.OCI_INDEX, Digest.of(body), len(body))
    store.content.put(top, body)
    layers = tuple(Descriptor.from_json(x) for _, b in entries for x in json.loads(b)["layers"])
    return Built(top, body, "amd64", layers)


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["skopeo", "--insecure-policy", *args],
        capture_output=True,
        text=True,
        timeout=GUARD,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        pytest.param("oci-manifest", "docker.io/library/hello-world:linux", id="oci-manifest"),
        pytest.param("oci-index", "127.0.0.1:5000/shared/app1:latest", id="oci-index"),
    ],
)
def test_skopeo_inspects_and_copies_a_stored_image(tmp_path: Path, kind: str, name: str) -> None:
    store = Store(tmp_path / "store")
    built = build(store, kind)
    store.images.put(name, built.top)
    store.images.put("docker.io/library/other:1", built.top)  # more than one name
    source = f"oci:{store.root}:{name}"

    raw = skopeo("inspect", "--raw", source).stdout
    assert raw.encode() == built.body

    info: dict[str, Any] = json.loads(skopeo("inspect", "--override-arch", "amd64", source).stdout)
    assert info["Architecture"] == built.arch
    assert info["Os"] == "linux"
    if kind != "oci-index":
        assert info["Digest"] == str(built.top.digest)
        assert info["Layers"] == [str(d.digest) for d in built.layers]

    out = tmp_path / "copy"
    skopeo("copy", "--all", source, f"dir:{out}")
    copied = sorted(p.name for p in out.iterdir())
    assert "manifest.json" in copied
    assert (out / "manifest.json").read_bytes() == built.body
    blobs = [p for p in out.iterdir() if p.name not in ("manifest.json", "version")]
    hexes = {d.digest.hex for d in built.layers}
    assert hexes <= {p.name for p in blobs}
    for path in blobs:  # <hex> (config, layers) and <hex>.manifest.json (index instances)
        digest = Digest("sha256", path.name.removesuffix(".manifest.json"))
        assert path.read_bytes() == store.content.read(digest)

    assert store.check() == []  # skopeo left the store as it was


@pytest.mark.parametrize(
    ("image", "platform"),
    [
        pytest.param("hello_linux", "linux/amd64", id="oci-index"),
        pytest.param("single_oci", None, id="oci-manifest"),
    ],
)
def test_skopeo_reads_and_copies_what_ctrpy_pulled(
    tmp_path: Path,
    registry_images: images.StandardImages,
    image: str,
    platform: str | None,
) -> None:
    """The store a real `ctrpy image pull` leaves is an OCI layout skopeo uses as it is."""
    pushed: images.PushedImage = getattr(registry_images, image)
    root = tmp_path / "store"
    args = ["--root", str(root), "image", "pull", "--quiet"]
    if platform:
        args += ["--platform", platform]
    pulled = subprocess.run(
        [*ctrpy_command(), *args, pushed.ref()],
        capture_output=True,
        text=True,
        timeout=GUARD,
        check=False,
    )
    assert pulled.returncode == 0, pulled.stderr
    source = f"oci:{root}:{reference.parse(pushed.ref())}"

    assert skopeo("inspect", "--raw", source).stdout.encode() == pushed.data
    manifest = pushed.manifest_for(platform) if platform else pushed.manifests[0]
    info: dict[str, Any] = json.loads(skopeo("inspect", "--override-arch", "amd64", source).stdout)
    assert info["Digest"] == pushed.digest  # skopeo names the top object, index or manifest
    assert info["Layers"] == [layer.digest for layer in manifest.layers]

    out = tmp_path / "copy"
    skopeo("copy", "--override-arch", "amd64", source, f"dir:{out}")
    assert (out / "manifest.json").read_bytes() == manifest.data
    for blob in manifest.blobs:
        assert (out / blob.digest.removeprefix("sha256:")).read_bytes() == blob.data
    assert Store(root).check() == []
