"""Build test images in pure Python and push them through the registry HTTP API.

Everything is deterministic (fixed mtimes, no gzip timestamp), so the same builder gives the
same digests every run. Digests here are plain strings ("sha256:<hex>"), computed with hashlib,
independent of ctrpy's own code.

    img = hello_world_linux()                          # an ImageIndex
    pushed = push(reg.url, "library/hello-world", img, tags=("linux", "latest"))
    pushed.digest, pushed.ref("linux"), pushed.manifest_for("linux/arm64/v8").layers

Big layers are streamed (never all in memory): ``big_image(count=4, size=512 << 20)``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

# --- media types (spelled out here, independent of ctrpy.oci.mediatypes) --------------------
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
IN_TOTO = "application/vnd.in-toto+json"

ACCEPT_ALL = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))

FIXED_MTIME = 1_683_042_567  # 2023-05-02T15:49:27Z, hello-world's era
CREATED = "2023-05-02T16:49:27Z"
CHUNK = 1 << 20
SMALL_BLOB_LIMIT = 8 << 20  # bigger blobs are uploaded with a streamed PATCH


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, indent=3).encode()  # Docker Hub's documents are indented by 3


# --- values ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlatformSpec:
    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None

    def __str__(self) -> str:
        parts = [self.os, self.architecture] + ([self.variant] if self.variant else [])
        return "/".join(parts)

    def to_json(self) -> dict[str, str]:
        d = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            d["os.version"] = self.os_version
        if self.variant:
            d["variant"] = self.variant
        return d

    @classmethod
    def parse(cls, spec: str, os_version: str | None = None) -> PlatformSpec:
        os_, arch, *rest = spec.split("/")
        return cls(os_, arch, rest[0] if rest else None, os_version)


@dataclass(frozen=True)
class Blob:
    """A config or layer. Small blobs hold ``data``; big ones a ``source`` of chunks."""

    media_type: str
    digest: str
    size: int
    data: bytes | None = field(default=None, repr=False)
    source: Callable[[], Iterator[bytes]] | None = field(default=None, repr=False, compare=False)
    diff_id: str | None = None  # layers: digest of the uncompressed tar
    annotations: Mapping[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, media_type: str, data: bytes, diff_id: str | None = None) -> Blob:
        return cls(media_type, sha256(data), len(data), data, diff_id=diff_id)

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            yield self.data
        elif self.source is not None:
            yield from self.source()

    def descriptor(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        return d


@dataclass(frozen=True)
class ImageManifest:
    """An OCI or Docker schema2 manifest with its config and layers."""

    media_type: str
    digest: str
    size: int
    data: bytes = field(repr=False)
    config: Blob
    layers: tuple[Blob, ...]
    platform: PlatformSpec | None = None  # as listed in the parent index (if any)
    annotations: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def blobs(self) -> tuple[Blob, ...]:
        return (self.config, *self.layers)

    @property
    def is_attestation(self) -> bool:
        return self.annotations.get("vnd.docker.reference.type") == "attestation-manifest"

    def descriptor(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform:
            d["platform"] = self.platform.to_json()
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        return d


@dataclass(frozen=True)
class ImageIndex:
    """An OCI index or Docker manifest list."""

    media_type: str
    digest: str
    size: int
    data: bytes = field(repr=False)
    manifests: tuple[ImageManifest, ...]


Image = ImageIndex | ImageManifest


@dataclass(frozen=True)
class PushedImage:
    """What was pushed where: ``host`` is "127.0.0.1:PORT", ``image`` the top document."""

    host: str
    repository: str
    tags: tuple[str, ...]
    image: Image

    @property
    def digest(self) -> str:
        return self.image.digest

    @property
    def media_type(self) -> str:
        return self.image.media_type

    @property
    def size(self) -> int:
        return self.image.size

    @property
    def data(self) -> bytes:
        return self.image.data

    @property
    def is_index(self) -> bool:
        return isinstance(self.image, ImageIndex)

    def ref(self, tag: str | None = None) -> str:
        """``127.0.0.1:PORT/library/hello-world:linux`` (the first tag by default)."""
        return f"{self.host}/{self.repository}:{tag or self.tags[0]}"

    @property
    def ref_by_digest(self) -> str:
        return f"{self.host}/{self.repository}@{self.digest}"

    @property
    def manifests(self) -> tuple[ImageManifest, ...]:
        """The index's entries in order (attestations included), or (the manifest,)."""
        if isinstance(self.image, ImageIndex):
            return self.image.manifests
        return (self.image,)

    @property
    def platforms(self) -> tuple[str, ...]:
        """``("linux/amd64", "linux/arm64/v8", ...)`` from the index entries."""
        return tuple(str(m.platform) for m in self.manifests if m.platform)

    def manifest_for(self, platform: str) -> ImageManifest:
        """The entry whose platform is exactly ``platform`` ("linux/arm64/v8")."""
        for m in self.manifests:
            if m.platform and str(m.platform) == platform and not m.is_attestation:
                return m
        raise KeyError(f"{self.repository}: no {platform} in {self.platforms}")

    @property
    def blobs(self) -> tuple[Blob, ...]:
        """All configs and layers, each once, in push order."""
        seen: dict[str, Blob] = {}
        for m in self.manifests:
            for b in m.blobs:
                seen.setdefault(b.digest, b)
        return tuple(seen.values())


# --- layers ---------------------------------------------------------------------------------
def tar_bytes(files: Mapping[str, bytes], mode: int = 0o755) -> bytes:
    """A deterministic tar (fixed mtime, root-owned, sorted names)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mtime = FIXED_MTIME
            info.mode = mode
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[name]))
    return buf.getvalue()


def layer(files: Mapping[str, bytes], media_type: str = OCI_LAYER_GZIP) -> Blob:
    """A layer with real tar content, gzipped when the media type says so."""
    raw = tar_bytes(files)
    data = gzip.compress(raw, compresslevel=6, mtime=0) if media_type.endswith("gzip") else raw
    return Blob.of(media_type, data, diff_id=sha256(raw))


def random_layer(size: int, seed: int = 0, name: str = "data.bin") -> Blob:
    """An uncompressed tar layer holding ``size`` random (incompressible) bytes, streamed.

    Deterministic for a seed; never held in memory as a whole (hashed once here, regenerated
    when pushed). ``Blob.size`` is the tar's size, a little more than ``size``.
    """
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = FIXED_MTIME
    info.mode = 0o644
    header = info.tobuf(format=tarfile.GNU_FORMAT)
    padding = b"\0" * (-size % 512) + b"\0" * 1024  # pad the file, then two end blocks

    def source() -> Iterator[bytes]:
        rng = random.Random(seed)
        yield header
        left = size
        while left > 0:
            n = min(CHUNK, left)
            yield rng.randbytes(n)
            left -= n
        yield padding

    h = hashlib.sha256()
    total = 0
    for chunk in source():
        h.update(chunk)
        total += len(chunk)
    digest = "sha256:" + h.hexdigest()
    return Blob(OCI_LAYER_TAR, digest, total, None, source, diff_id=digest)


# --- manifests and indexes ------------------------------------------------------------------
def config_blob(
    platform: PlatformSpec,
    layers: Sequence[Blob],
    *,
    docker: bool = False,
    cmd: Sequence[str] = ("/hello",),
    labels: Mapping[str, str] | None = None,
) -> Blob:
    doc: dict[str, Any] = {
        "architecture": platform.architecture,
        "config": {"Cmd": list(cmd), "Labels": dict(labels) if labels else None},
        "created": CREATED,
        "history": [{"created": CREATED, "created_by": "ctrpy test image"} for _ in layers],
        "os": platform.os,
        "rootfs": {"type": "layers", "diff_ids": [b.diff_id or b.digest for b in layers]},
    }
    if platform.os_version:
        doc["os.version"] = platform.os_version
    if platform.variant:
        doc["variant"] = platform.variant
    return Blob.of(DOCKER_CONFIG if docker else OCI_CONFIG, _json(doc))


def manifest(
    config: Blob,
    layers: Sequence[Blob],
    *,
    media_type: str = OCI_MANIFEST,
    platform: PlatformSpec | None = None,
    annotations: Mapping[str, str] | None = None,
) -> ImageManifest:
    """A manifest document; ``platform``/``annotations`` are what its index entry will say."""
    doc = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config.descriptor(),
        "layers": [b.descriptor() for b in layers],
    }
    data = _json(doc)
    return ImageManifest(
        media_type,
        sha256(data),
        len(data),
        data,
        config,
        tuple(layers),
        platform,
        dict(annotations or {}),
    )


def index(manifests: Sequence[ImageManifest], media_type: str = OCI_INDEX) -> ImageIndex:
    doc = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [m.descriptor() for m in manifests],
    }
    data = _json(doc)
    return ImageIndex(media_type, sha256(data), len(data), data, tuple(manifests))


def simple_image(
    platform: str | PlatformSpec = "linux/amd64",
    *,
    files: Mapping[str, bytes] | None = None,
    base_layers: Sequence[Blob] = (),
    docker: bool = False,
    os_version: str | None = None,
) -> ImageManifest:
    """A runnable-looking image: ``base_layers`` + one layer made of ``files``."""
    plat = platform if isinstance(platform, PlatformSpec) else PlatformSpec.parse(platform)
    if os_version:
        plat = PlatformSpec(plat.os, plat.architecture, plat.variant, os_version)
    layer_type = DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP
    own = layer(files or {"hello": f"Hello from {plat}!\n".encode()}, layer_type)
    layers = [*base_layers, own]
    cfg = config_blob(plat, layers, docker=docker)
    return manifest(
        cfg, layers, media_type=DOCKER_MANIFEST if docker else OCI_MANIFEST, platform=plat
    )


def attestation_for(target: ImageManifest) -> ImageManifest:
    """A buildkit-style attestation manifest (index entry platform unknown/unknown)."""
    statement = _json(
        {
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://spdx.dev/Document",
            "subject": [{"name": "hello", "digest": {"sha256": target.digest[7:]}}],
            "predicate": {"spdxVersion": "SPDX-2.3", "name": "sbom"},
        }
    )
    att_layer = Blob(
        IN_TOTO,
        sha256(statement),
        len(statement),
        statement,
        annotations={"in-toto.io/predicate-type": "https://spdx.dev/Document"},
    )
    cfg = Blob.of(
        OCI_CONFIG,
        _json(
            {
                "architecture": "unknown",
                "os": "unknown",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": [att_layer.digest]},
            }
        ),
    )
    return manifest(
        cfg,
        [att_layer],
        platform=PlatformSpec("unknown", "unknown"),
        annotations={
            "vnd.docker.reference.digest": target.digest,
            "vnd.docker.reference.type": "attestation-manifest",
        },
    )


HELLO_LINUX_PLATFORMS = ("linux/amd64", "linux/arm64/v8", "linux/arm/v7")
NANOSERVER_OS_VERSION = "10.0.20348.2340"


def hello_world_linux() -> ImageIndex:
    """Like Docker Hub's hello-world:linux -- OCI index: linux/amd64, linux/arm64/v8,
    linux/arm/v7, and an attestation (unknown/unknown) for the amd64 manifest."""
    ms = [simple_image(p) for p in HELLO_LINUX_PLATFORMS]
    return index([*ms, attestation_for(ms[0])])


def hello_world_nanoserver() -> ImageIndex:
    """Like hello-world:nanoserver-ltsc2022 -- OCI index with only windows/amd64 (os.version)."""
    return index([simple_image("windows/amd64", os_version=NANOSERVER_OS_VERSION)])


def docker_manifest_list(
    platforms: Sequence[str] = ("linux/amd64", "linux/arm64/v8"),
) -> ImageIndex:
    """A Docker manifest list of Docker schema2 manifests (Docker config/layer types)."""
    ms = [
        simple_image(p, docker=True, files={"hello": f"docker list {p}\n".encode()})
        for p in platforms
    ]
    return index(ms, media_type=DOCKER_LIST)


def shared_base() -> tuple[Blob, Blob]:
    """Two base layers that shared/app1 and shared/app2 both use."""
    return (
        layer({"etc/os-release": b"NAME=ctrpy-base\n", "bin/sh": b"#!fake shell\n"}),
        layer({"usr/lib/libshared.so": b"\x7fELF shared library\n" * 64}),
    )


def shared_pair() -> tuple[ImageManifest, ImageManifest]:
    """Two single-manifest linux/amd64 images sharing their two base layers."""
    base = shared_base()
    return (
        simple_image(base_layers=base, files={"app": b"app1\n"}),
        simple_image(base_layers=base, files={"app": b"app2\n"}),
    )


def big_image(
    count: int, size: int, *, seed: int = 0, platform: str = "linux/amd64"
) -> ImageManifest:
    """A single manifest with ``count`` streamed layers of ``size`` random bytes each."""
    layers = [random_layer(size, seed=seed * 1000 + i, name=f"data-{i}.bin") for i in range(count)]
    plat = PlatformSpec.parse(platform)
    return manifest(config_blob(plat, layers, cmd=("/bin/true",)), layers, platform=plat)


# --- pushing --------------------------------------------------------------------------------
class PushError(RuntimeError):
    pass


def _check(resp: httpx.Response, what: str, *ok: int) -> httpx.Response:
    if resp.status_code not in ok:
        raise PushError(
            f"{what}: {resp.request.method} {resp.url} -> {resp.status_code} {resp.text}"
        )
    return resp


def _location(base: str, resp: httpx.Response) -> str:
    loc = resp.headers["Location"]
    return loc if loc.startswith("http") else base + loc


def _with_digest(url: str, digest: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}digest={digest}"


def push_blob(client: httpx.Client, base: str, repository: str, blob: Blob) -> None:
    """Upload a blob unless present: monolithic POST+PUT, or a streamed PATCH for big ones."""
    head = client.head(f"{base}/v2/{repository}/blobs/{blob.digest}")
    if head.status_code == 200:
        return
    start = _check(client.post(f"{base}/v2/{repository}/blobs/uploads/"), "upload", 202)
    url = _location(base, start)
    if blob.data is not None and blob.size <= SMALL_BLOB_LIMIT:
        _check(
            client.put(
                _with_digest(url, blob.digest),
                content=blob.data,
                headers={"Content-Type": "application/octet-stream"},
            ),
            f"blob {blob.digest}",
            201,
        )
        return
    patch = _check(
        client.patch(
            url,
            content=blob.chunks(),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(blob.size)},
        ),
        f"blob {blob.digest} (PATCH)",
        202,
    )
    _check(
        client.put(_with_digest(_location(base, patch), blob.digest), content=b""),
        f"blob {blob.digest} (PUT)",
        201,
    )


def push_manifest(
    client: httpx.Client, base: str, repository: str, reference: str, data: bytes, media_type: str
) -> str:
    """PUT a manifest document by tag or digest; returns the registry's Docker-Content-Digest."""
    resp = _check(
        client.put(
            f"{base}/v2/{repository}/manifests/{reference}",
            content=data,
            headers={"Content-Type": media_type},
        ),
        f"manifest {repository}:{reference}",
        201,
    )
    return str(resp.headers.get("Docker-Content-Digest", ""))


def _push_tree(client: httpx.Client, base: str, repository: str, img: Image) -> None:
    children = img.manifests if isinstance(img, ImageIndex) else (img,)
    for m in children:
        for b in m.blobs:
            push_blob(client, base, repository, b)
        if m is not img:
            push_manifest(client, base, repository, m.digest, m.data, m.media_type)


def push(
    url: str,
    repository: str,
    img: Image,
    tags: Iterable[str] = ("latest",),
    *,
    auth: tuple[str, str] | None = None,
    client: httpx.Client | None = None,
) -> PushedImage:
    """Push ``img`` (blobs, child manifests by digest, then the top by each tag) to ``url``.

    ``url`` is "http://127.0.0.1:PORT"; with no tags the top document is pushed by digest.
    """
    tags = tuple(tags)
    own = client is None
    c = client or httpx.Client(auth=auth, timeout=60.0)
    try:
        _push_tree(c, url, repository, img)
        refs = tags or (img.digest,)
        for ref in refs:
            got = push_manifest(c, url, repository, ref, img.data, img.media_type)
            if got and got != img.digest:
                raise PushError(f"{repository}:{ref}: registry says {got}, expected {img.digest}")
    finally:
        if own:
            c.close()
    host = url.split("://", 1)[-1].rstrip("/")
    return PushedImage(host, repository, tags, img)


# --- the standard set -----------------------------------------------------------------------
@dataclass(frozen=True)
class StandardImages:
    """The images every integration test can rely on (see tests/support/README.md).

    hello_linux:     library/hello-world:linux and :latest (OCI index, 3 linux + attestation)
    hello_windows:   library/hello-world:nanoserver-ltsc2022 (OCI index, windows/amd64 only)
    docker_list:     test/docker-list:latest (Docker manifest list: linux/amd64, linux/arm64/v8)
    single_oci:      test/single:latest (one OCI manifest, linux/amd64, no index)
    single_docker:   test/single-docker:latest (one Docker schema2 manifest, linux/amd64)
    shared_app1/2:   shared/app1:latest, shared/app2:latest (OCI manifests sharing 2 base layers)
    """

    hello_linux: PushedImage
    hello_windows: PushedImage
    docker_list: PushedImage
    single_oci: PushedImage
    single_docker: PushedImage
    shared_app1: PushedImage
    shared_app2: PushedImage

    @property
    def all(self) -> tuple[PushedImage, ...]:
        return (
            self.hello_linux,
            self.hello_windows,
            self.docker_list,
            self.single_oci,
            self.single_docker,
            self.shared_app1,
            self.shared_app2,
        )

    @property
    def shared_layers(self) -> tuple[Blob, ...]:
        """The layers shared/app1 and shared/app2 have in common."""
        a = {b.digest for b in self.shared_app2.blobs}
        return tuple(b for b in self.shared_app1.manifests[0].layers if b.digest in a)


def push_standard(
    url: str, *, auth: tuple[str, str] | None = None, client: httpx.Client | None = None
) -> StandardImages:
    """Push the standard set to the registry at ``url``."""
    own = client is None
    c = client or httpx.Client(auth=auth, timeout=60.0)
    try:
        app1, app2 = shared_pair()

        def p(repo: str, img: Image, *tags: str) -> PushedImage:
            return push(url, repo, img, tags, client=c)

        return StandardImages(
            hello_linux=p("library/hello-world", hello_world_linux(), "linux", "latest"),
            hello_windows=p("library/hello-world", hello_world_nanoserver(), "nanoserver-ltsc2022"),
            docker_list=p("test/docker-list", docker_manifest_list(), "latest"),
            single_oci=p("test/single", simple_image(files={"hello": b"single oci\n"}), "latest"),
            single_docker=p(
                "test/single-docker",
                simple_image(docker=True, files={"hello": b"single docker\n"}),
                "latest",
            ),
            shared_app1=p("shared/app1", app1, "latest"),
            shared_app2=p("shared/app2", app2, "latest"),
        )
    finally:
        if own:
            c.close()
