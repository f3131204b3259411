"""Pulls against the real registry: what gets stored, and exactly which requests it costs."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from ctrpy.errors import InvalidManifest, NotFound, PlatformNotFound
from ctrpy.events import Event, Status
from ctrpy.oci import platforms, reference
from ctrpy.oci.descriptor import Descriptor
from ctrpy.oci.digest import Digest
from ctrpy.pull import PullOptions, PullResult, pull
from ctrpy.registry.client import Client, ClientOptions
from ctrpy.store import Store
from tests.support.images import (
    NANOSERVER_OS_VERSION,
    OCI_INDEX,
    OCI_LAYER_TAR,
    Blob,
    ImageIndex,
    ImageManifest,
    PlatformSpec,
    PushedImage,
    StandardImages,
    index,
    push,
    push_manifest,
    simple_image,
)
from tests.support.registry import Registry, Request

Call = tuple[str, str, str]  # (method, "manifest"|"blob", tag or digest)


@pytest.fixture
def client() -> Iterator[Client]:
    with Client(ClientOptions()) as c:
        yield c


@pytest.fixture
def images(registry_images: StandardImages) -> StandardImages:
    return registry_images


@pytest.fixture
def calls(registry: Registry, images: StandardImages) -> Callable[[], list[Call]]:
    """The registry's requests since the test started, as (method, kind, reference)."""
    mark = registry.mark()

    def get() -> list[Call]:
        return [summarize(r) for r in registry.since(mark)]

    return get


def summarize(r: Request) -> Call:
    return (r.method, r.kind, r.reference or r.path)


def for_platforms(*specs: str) -> PullOptions:
    return PullOptions(platforms=tuple(platforms.parse(s) for s in specs))


AMD64 = for_platforms("linux/amd64")


def run(ref: str, client: Client, store: Store, options: PullOptions = AMD64) -> PullResult:
    return pull(reference.parse(ref), client, store, options, lambda e: None)


def blob_calls(m: ImageManifest, skip: tuple[Blob, ...] = ()) -> Counter[Call]:
    return Counter(("GET", "blob", b.digest) for b in m.blobs if b not in skip)


def assert_stored(store: Store, img: PushedImage, *manifests: ImageManifest) -> None:
    assert store.content.has_digest(Digest.parse(img.digest))
    for m in manifests:
        assert store.content.has_digest(Digest.parse(m.digest))
        for b in m.blobs:
            assert store.content.read(Digest.parse(b.digest)) == b.data


def split(got: list[Call], head: int) -> tuple[list[Call], Counter[Call]]:
    """The first ``head`` calls in order; the rest (parallel blob downloads) as a multiset."""
    return got[:head], Counter(got[head:])


@pytest.mark.parametrize(
    ("image", "platform"),
    [
        ("hello_linux", "linux/amd64"),
        ("hello_linux", "linux/arm64/v8"),
        ("hello_linux", "linux/arm/v7"),
        ("docker_list", "linux/amd64"),
        ("docker_list", "linux/arm64/v8"),
    ],
    ids=["oci-amd64", "oci-arm64", "oci-armv7", "docker-amd64", "docker-arm64"],
)
def test_cold_multi_arch_pull_costs_head_index_manifest_and_blobs(
    images: StandardImages,
    client: Client,
    calls: Callable[[], list[Call]],
    tmp_path: Path,
    image: str,
    platform: str,
) -> None:
    img: PushedImage = getattr(images, image)
    tag = img.tags[0]
    m = img.manifest_for(platform)
    store = Store(tmp_path / "store")

    result = run(img.ref(tag), client, store, for_platforms(platform))

    ordered, rest = split(calls(), 3)
    assert ordered == [
        ("HEAD", "manifest", tag),
        ("GET", "manifest", img.digest),
        ("GET", "manifest", m.digest),
    ]
    assert rest == blob_calls(m)
    assert_stored(store, img, m)
    assert result.manifests == (Descriptor.from_json(m.descriptor()),)
    assert (result.fetched, result.existing) == (2 + len(m.blobs), 0)
    assert result.bytes_fetched == img.size + m.size + sum(b.size for b in m.blobs)
    record = store.images.get(img.ref(tag))
    assert record is not None and str(record.target.digest) == img.digest


@pytest.mark.parametrize("image", ["hello_linux", "docker_list", "single_oci", "single_docker"])
def test_warm_re_pull_is_exactly_one_head(
    images: StandardImages, client: Client, tmp_path: Path, registry: Registry, image: str
) -> None:
    img: PushedImage = getattr(images, image)
    store = Store(tmp_path / "store")
    run(img.ref(), client, store)
    with registry.recording() as requests:
        result = run(img.ref(), client, store)
    assert [summarize(r) for r in requests] == [("HEAD", "manifest", img.tags[0])]
    assert result.fetched == 0 and result.bytes_fetched == 0


def test_digest_reference_cold_then_fully_stored_makes_no_request(
    images: StandardImages, client: Client, tmp_path: Path, registry: Registry
) -> None:
    img = images.hello_linux
    m = img.manifest_for("linux/amd64")
    store = Store(tmp_path / "store")
    with registry.recording() as cold:
        result = run(img.ref_by_digest, client, store)
    ordered, rest = split([summarize(r) for r in cold], 3)
    assert ordered == [
        ("HEAD", "manifest", img.digest),
        ("GET", "manifest", img.digest),
        ("GET", "manifest", m.digest),
    ]
    assert rest == blob_calls(m)
    assert result.name == img.ref_by_digest

    with registry.recording() as warm:
        events: list[Event] = []
        pull(reference.parse(img.ref_by_digest), client, store, AMD64, events.append)
    assert warm == []
    assert [e.status for e in events] == [Status.RESOLVING, Status.RESOLVED] + [Status.EXISTS] * 4


def test_digest_reference_with_the_index_stored_fetches_only_what_is_missing(
    images: StandardImages, client: Client, tmp_path: Path, registry: Registry
) -> None:
    img = images.hello_linux
    arm = img.manifest_for("linux/arm64/v8")
    store = Store(tmp_path / "store")
    run(img.ref("linux"), client, store)  # amd64: the index is stored now
    with registry.recording() as requests:
        run(img.ref_by_digest, client, store, for_platforms("linux/arm64/v8"))
    ordered, rest = split([summarize(r) for r in requests], 1)
    assert ordered == [("GET", "manifest", arm.digest)]
    assert rest == blob_calls(arm)


def test_windows_only_tag_fails_with_the_platforms_listed_and_keeps_the_index(
    images: StandardImages, client: Client, tmp_path: Path, registry: Registry
) -> None:
    img = images.hello_windows
    ref = img.ref("nanoserver-ltsc2022")
    store = Store(tmp_path / "store")
    with registry.recording() as first, pytest.raises(PlatformNotFound) as caught:
        run(ref, client, store)
    err = caught.value
    assert err.exit_code == 3
    assert "no manifest for platform linux/amd64" in err.message
    assert f"windows/amd64 (os.version {NANOSERVER_OS_VERSION})" in err.message
    assert err.hint is not None and "--platform windows/amd64" in err.hint
    assert [summarize(r) for r in first] == [
        ("HEAD", "manifest", "nanoserver-ltsc2022"),
        ("GET", "manifest", img.digest),
    ]
    assert store.images.get(ref) is None  # nothing recorded: the pull did not complete

    with registry.recording() as again, pytest.raises(PlatformNotFound):
        run(ref, client, store)
    assert [summarize(r) for r in again] == [("HEAD", "manifest", "nanoserver-ltsc2022")]

    result = run(ref, client, store, for_platforms("windows/amd64"))
    assert result.manifests[0].platform is not None
    assert result.manifests[0].platform.os_version == NANOSERVER_OS_VERSION


@pytest.mark.parametrize("image", ["single_oci", "single_docker"])
def test_single_manifest_image(
    images: StandardImages, client: Client, tmp_path: Path, registry: Registry, image: str
) -> None:
    img: PushedImage = getattr(images, image)
    m = img.manifests[0]
    store = Store(tmp_path / "store")
    with registry.recording() as requests:
        result = run(img.ref(), client, store, for_platforms("linux/arm64"))  # not checked
    ordered, rest = split([summarize(r) for r in requests], 2)
    assert ordered == [("HEAD", "manifest", "latest"), ("GET", "manifest", m.digest)]
    assert rest == blob_calls(m)
    assert result.target.media_type == m.media_type and str(result.target.digest) == m.digest
    assert_stored(store, img, m)


def test_images_sharing_layers_fetch_the_shared_ones_once(
    images: StandardImages, client: Client, tmp_path: Path, registry: Registry
) -> None:
    app1, app2 = images.shared_app1, images.shared_app2
    shared = images.shared_layers
    assert len(shared) == 2
    store = Store(tmp_path / "store")
    run(app1.ref(), client, store)
    with registry.recording() as requests:
        result = run(app2.ref(), client, store)
    m = app2.manifests[0]
    ordered, rest = split([summarize(r) for r in requests], 2)
    assert ordered == [("HEAD", "manifest", "latest"), ("GET", "manifest", m.digest)]
    assert rest == blob_calls(m, skip=shared)
    assert result.existing == len(shared)
    assert_stored(store, app2, m)


def test_several_platforms_and_all_platforms(
    images: StandardImages, client: Client, tmp_path: Path, registry: Registry
) -> None:
    img = images.hello_linux
    store = Store(tmp_path / "store")
    two = for_platforms("linux/arm64/v8", "linux/amd64")
    result = run(img.ref(), client, store, two)
    assert [str(d.digest) for d in result.manifests] == [
        img.manifest_for("linux/arm64/v8").digest,
        img.manifest_for("linux/amd64").digest,
    ]
    with registry.recording() as requests:
        everything = run(img.ref(), client, store, PullOptions(all_platforms=True))
    assert len(everything.manifests) == len(img.manifests) == 4  # attestation included
    fetched = {r.reference for r in requests if r.method == "GET"}
    missing = [m for m in img.manifests if m.platform and str(m.platform) == "linux/arm/v7"]
    missing += [m for m in img.manifests if m.is_attestation]
    assert fetched == {m.digest for m in missing} | {b.digest for m in missing for b in m.blobs}
    assert_stored(store, img, *img.manifests)


def test_default_platform_is_the_host(
    images: StandardImages, client: Client, tmp_path: Path
) -> None:
    img = images.hello_linux
    host = platforms.host()
    result = run(img.ref(), client, Store(tmp_path / "s"), PullOptions())
    assert result.manifests[0].platform is not None
    assert platforms.matches(host, result.manifests[0].platform)


def test_resume_asks_only_for_the_rest_of_a_partial_layer(
    images: StandardImages, client: Client, tmp_path: Path, registry: Registry
) -> None:
    img = images.shared_app1
    m = img.manifests[0]
    big = max(m.layers, key=lambda b: b.size)
    assert big.data is not None and big.size > 100
    store = Store(tmp_path / "store")
    desc = Descriptor.from_json(big.descriptor())
    half = big.size // 2
    with pytest.raises(RuntimeError), store.content.writer(desc) as writer:
        writer.write(big.data[:half])
        raise RuntimeError("interrupted")  # leaving with an error keeps the partial

    events: list[Event] = []
    with registry.recording() as requests:
        pull(reference.parse(img.ref()), client, store, AMD64, events.append)
    layer_get = [r for r in requests if r.reference == big.digest]
    assert [(r.method, r.status, r.size) for r in layer_get] == [("GET", 206, big.size - half)]
    first = next(
        e for e in events if e.key.endswith(big.digest) and e.status.value == "downloading"
    )
    assert first.offset == half
    assert store.content.read(desc.digest) == big.data


def test_missing_tag_is_not_found(images: StandardImages, client: Client, tmp_path: Path) -> None:
    with pytest.raises(NotFound) as caught:
        run(f"{images.hello_linux.host}/library/hello-world:no-such-tag", client, Store(tmp_path))
    assert caught.value.exit_code == 3


def test_a_moved_tag_fetches_the_new_index_and_only_new_content(
    images: StandardImages, client: Client, tmp_path: Path, registry: Registry
) -> None:
    first = push(registry.url, "test/moving", simple_image(files={"v": b"1\n"}), ["stable"])
    store = Store(tmp_path / "store")
    run(first.ref(), client, store)
    second = push(registry.url, "test/moving", simple_image(files={"v": b"2\n"}), ["stable"])
    with registry.recording() as requests:
        result = run(second.ref(), client, store)
    m = second.manifests[0]
    ordered, rest = split([summarize(r) for r in requests], 2)
    assert ordered == [("HEAD", "manifest", "stable"), ("GET", "manifest", m.digest)]
    assert rest == Counter(("GET", "blob", b.digest) for b in m.blobs)
    assert str(result.target.digest) == second.digest
    record = store.images.get(second.ref())
    assert record is not None and str(record.target.digest) == second.digest


def push_nested(registry: Registry, tag: str, inner_platform: str | None) -> tuple[str, ImageIndex]:
    """An OCI index whose one entry is another index (allowed by the image spec): the inner
    one is pushed by digest, the outer one by ``tag``.  Returns (outer ref, inner index)."""
    inner = index(
        [
            simple_image(p, files={"nested": f"{tag} {p}\n".encode()})
            for p in ("linux/amd64", "linux/arm64/v8")
        ]
    )
    push(registry.url, "test/nested", inner, ())
    entry: dict[str, object] = {
        "mediaType": inner.media_type,
        "digest": inner.digest,
        "size": inner.size,
    }
    if inner_platform is not None:
        entry["platform"] = PlatformSpec.parse(inner_platform).to_json()
    outer = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}).encode()
    with httpx.Client() as c:
        push_manifest(c, registry.url, "test/nested", tag, outer, OCI_INDEX)
    return f"{registry.url.split('://', 1)[1]}/test/nested:{tag}", inner


@pytest.mark.parametrize(
    ("entry_platform", "options", "pulled"),
    [
        (None, PullOptions(all_platforms=True), ["linux/amd64", "linux/arm64/v8"]),
        ("linux/arm64/v8", for_platforms("linux/arm64/v8"), ["linux/arm64/v8"]),
    ],
    ids=["all-platforms", "platform"],
)
def test_a_nested_index_is_walked_to_its_manifests_before_the_name_is_recorded(
    registry: Registry,
    client: Client,
    tmp_path: Path,
    entry_platform: str | None,
    options: PullOptions,
    pulled: list[str],
) -> None:
    ref, inner = push_nested(registry, f"nested-{len(pulled)}", entry_platform)
    store = Store(tmp_path / "store")
    result = pull(reference.parse(ref), client, store, options, lambda e: None)
    chosen = [m for m in inner.manifests if str(m.platform) in pulled]
    for m in chosen:
        for b in m.blobs:
            assert store.content.read(Digest.parse(b.digest)) == b.data
    assert [str(d.digest) for d in result.manifests] == [m.digest for m in chosen]
    assert store.images.get(ref) is not None


def test_digest_reference_to_a_stored_layer_is_refused_without_reading_it(
    registry: Registry, client: Client, tmp_path: Path
) -> None:
    """A layer's digest given as the image (a common slip) is refused by its size at once:
    the blob is not read into memory, and no request is made."""
    big = Blob.of(OCI_LAYER_TAR, b"\0" * (5 * 1024 * 1024))
    img = simple_image(base_layers=[big])
    pushed = push(registry.url, "test/layer-digest", img, ["v1"])
    store = Store(tmp_path / "store")
    run(pushed.ref(), client, store)
    with registry.recording() as requests, pytest.raises(InvalidManifest) as caught:
        run(f"{registry.host}/test/layer-digest@{big.digest}", client, store)
    assert requests == []
    assert "too big for an index or manifest" in caught.value.message
    assert caught.value.hint and "ctrpy image ls" in caught.value.hint
