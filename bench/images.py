"""The benchmark's images, generated while they are pushed: never a whole layer in memory.

A big layer is a real tar holding one file of random bytes (incompressible), either as it
is (``tar``) or wrapped in gzip with *stored* deflate blocks (``tar+gzip``): a valid gzip
stream that costs no compression time and stays as big as its content.  Both are real, so
``ctr image pull`` can unpack them; the config lists their real diff IDs.  The same seed gives
the same tar, so the gzip image and the tar image hold the same files.

Blobs go up with the registry API's chunked upload (POST, PATCH per chunk, PUT ?digest=),
hashed on the way; only ``CHUNK`` bytes are held at a time.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import platform
import random
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

MIB = 1024 * 1024
CHUNK = 16 * MIB
_BLOCK = 512
_TAR_OVERHEAD = 3 * _BLOCK  # one header block, two end-of-archive blocks


@dataclass(frozen=True)
class Blob:
    media_type: str
    digest: str
    size: int

    def descriptor(self) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Image:
    """A pushed image: ``ref`` is what the tools pull (``127.0.0.1:PORT/name:tag``)."""

    host: str
    name: str
    tag: str
    digest: str
    media_type: str
    size: int
    layers: tuple[Blob, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.host}/{self.name}:{self.tag}"

    @property
    def layer_bytes(self) -> int:
        return sum(layer.size for layer in self.layers)


def host_architecture() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


def tar_chunks(seed: int, size: int, chunk: int = 4 * MIB) -> Iterator[bytes]:
    """A tar of exactly ``size`` bytes (a multiple of 512, >= 2048): one file of random bytes."""
    if size % _BLOCK or size < _TAR_OVERHEAD + _BLOCK:
        raise ValueError(f"tar size {size} is not a multiple of 512 of at least 2048")
    data_size = size - _TAR_OVERHEAD
    info = tarfile.TarInfo(f"data-{seed}.bin")
    info.size = data_size
    info.mode = 0o644
    info.mtime = 0
    yield info.tobuf(format=tarfile.USTAR_FORMAT)
    rng = random.Random(seed)
    left = data_size
    while left:
        n = min(chunk, left)
        yield rng.randbytes(n)
        left -= n
    yield bytes(2 * _BLOCK)


def gzip_stored(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Wrap ``chunks`` in a gzip stream of stored (level 0) deflate blocks."""
    compressor = zlib.compressobj(0, zlib.DEFLATED, 31)
    for piece in chunks:
        out = compressor.compress(piece)
        if out:
            yield out
    yield compressor.flush()


class Pusher:
    """Pushes blobs and manifests to one registry over one keep-alive connection."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        if parts.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError(f"the benchmark only talks to loopback, not {base_url}")
        self.host = parts.netloc
        self._conn = http.client.HTTPConnection(parts.netloc, timeout=120)

    def close(self) -> None:
        self._conn.close()

    def _request(
        self, method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> http.client.HTTPResponse:
        path = urlsplit(url)
        target = path.path + (f"?{path.query}" if path.query else "")
        self._conn.request(method, target, body=body, headers=headers or {})
        response = self._conn.getresponse()
        response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {target}: HTTP {response.status}")
        return response

    def _location(self, response: http.client.HTTPResponse) -> str:
        location = response.getheader("Location")
        if not location:
            raise RuntimeError("upload answer without Location")
        return location

    def push_stream(self, name: str, media_type: str, chunks: Iterable[bytes]) -> Blob:
        """Upload ``chunks`` as one blob in PATCHes of at most ``CHUNK`` bytes."""
        location = self._location(self._request("POST", f"/v2/{name}/blobs/uploads/"))
        hasher = hashlib.sha256()
        offset = 0
        pending = bytearray()

        def flush() -> None:
            nonlocal location, offset, pending
            if not pending:
                return
            end = offset + len(pending) - 1
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{end}",
                "Content-Length": str(len(pending)),
            }
            location = self._location(self._request("PATCH", location, bytes(pending), headers))
            offset = end + 1
            pending = bytearray()

        for piece in chunks:
            hasher.update(piece)
            pending += piece
            if len(pending) >= CHUNK:
                flush()
        flush()
        digest = f"sha256:{hasher.hexdigest()}"
        sep = "&" if "?" in location else "?"
        self._request("PUT", f"{location}{sep}digest={digest}", b"", {"Content-Length": "0"})
        return Blob(media_type, digest, offset)

    def push_bytes(self, name: str, media_type: str, data: bytes) -> Blob:
        return self.push_stream(name, media_type, [data])

    def push_manifest(self, name: str, tag: str, media_type: str, body: bytes) -> Blob:
        self._request("PUT", f"/v2/{name}/manifests/{tag}", body, {"Content-Type": media_type})
        return Blob(media_type, f"sha256:{hashlib.sha256(body).hexdigest()}", len(body))


def _config(diff_ids: list[str], label: str) -> bytes:
    config: dict[str, object] = {
        "architecture": host_architecture(),
        "os": "linux",
        "config": {"Labels": {"bench": label}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    return json.dumps(config, sort_keys=True).encode()


def _manifest(config: Blob, layers: Iterable[Blob]) -> bytes:
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }
    return json.dumps(body, indent=2).encode()


def _hashed(chunks: Iterable[bytes], hasher: hashlib._Hash) -> Iterator[bytes]:
    for piece in chunks:
        hasher.update(piece)
        yield piece


def push_big_image(
    pusher: Pusher,
    name: str,
    tag: str,
    *,
    layers: int,
    layer_size: int,
    gzip: bool,
    seed: int,
) -> Image:
    """``layers`` layers of ``layer_size`` tar bytes of random data each, gzip or plain tar."""
    blobs: list[Blob] = []
    diff_ids: list[str] = []
    for i in range(layers):
        tar_hash = hashlib.sha256()
        tar = _hashed(tar_chunks(seed * 1000 + i, layer_size), tar_hash)
        if gzip:
            blobs.append(pusher.push_stream(name, OCI_LAYER_GZIP, gzip_stored(tar)))
        else:
            blobs.append(pusher.push_stream(name, OCI_LAYER, tar))
        diff_ids.append(f"sha256:{tar_hash.hexdigest()}")
    config = pusher.push_bytes(name, OCI_CONFIG, _config(diff_ids, f"{name}:{tag}"))
    top = pusher.push_manifest(name, tag, OCI_MANIFEST, _manifest(config, blobs))
    return Image(pusher.host, name, tag, top.digest, OCI_MANIFEST, top.size, tuple(blobs))


# --- small images: built with the test harness's builders (tests/support/images.py) ---------


def push_multi_arch(url: str, name: str, tag: str) -> str:
    """A hello-world-like OCI index (3 linux platforms + an attestation); returns its ref."""
    from tests.support import images as support

    return support.push(url, name, support.hello_world_linux(), (tag,)).ref(tag)


def push_many(url: str, count: int, prefix: str = "bench/ls") -> list[str]:
    """``count`` distinct one-layer images for the host's platform; returns their refs."""
    import httpx

    from tests.support import images as support

    refs = []
    with httpx.Client(timeout=60.0) as client:
        for i in range(count):
            files = {"n": f"image {i}\n".encode()}
            img = support.simple_image(f"linux/{host_architecture()}", files=files)
            refs.append(
                support.push(url, f"{prefix}{i:02d}", img, ("latest",), client=client).ref()
            )
    return refs
