"""The registry client against the real distribution registry: every pushed image kind
resolves and fetches, Basic auth works, and the access log shows one HEAD per tag resolve
and manifest GETs only by digest."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ctrpy.errors import AuthError, NotFound
from ctrpy.oci import descriptor as oci
from ctrpy.oci import reference
from ctrpy.oci.digest import Digest
from ctrpy.registry.client import Client, ClientOptions
from tests.support.images import PushedImage, StandardImages
from tests.support.registry import TEST_PASSWORD, TEST_USER, Registry

KINDS = ["hello_linux", "hello_windows", "docker_list", "single_oci", "single_docker",
         "shared_app1"]  # fmt: skip


def options(tmp_path: Path, **kw: object) -> ClientOptions:
    config = tmp_path / "docker-config"
    config.mkdir(exist_ok=True)
    return ClientOptions(docker_config=config, backoff=0.01, **kw)  # type: ignore[arg-type]


def fetch_everything(c: Client, img: PushedImage) -> None:
    """Resolve the image's first tag, then fetch and check every manifest and blob."""
    ref = reference.parse(img.ref())
    resolved = c.resolve(ref)
    top = resolved.descriptor
    assert (str(top.digest), top.size, top.media_type) == (img.digest, img.size, img.media_type)
    body = c.fetch_manifest(ref, top)
    assert body == img.data
    doc = oci.parse(body, top.media_type)
    manifests = doc.manifests if isinstance(doc, oci.Index) else (top,)
    assert [str(m.digest) for m in manifests] == [m.digest for m in img.manifests]
    for desc, pushed in zip(manifests, img.manifests, strict=True):
        data = c.fetch_manifest(ref, desc) if isinstance(doc, oci.Index) else body
        assert data == pushed.data
        manifest = oci.parse(data, desc.media_type)
        assert isinstance(manifest, oci.Manifest)
        for blob in (manifest.config, *manifest.layers):
            h = hashlib.sha256()
            for chunk in c.fetch_blob(ref, blob):
                h.update(chunk)
            assert Digest("sha256", h.hexdigest()) == blob.digest


@pytest.mark.parametrize("kind", KINDS)
def test_resolve_and_fetch_every_image_kind(
    registry: Registry, registry_images: StandardImages, tmp_path: Path, kind: str
) -> None:
    img: PushedImage = getattr(registry_images, kind)
    mark = registry.mark()
    with Client(options(tmp_path)) as c:
        fetch_everything(c, img)
    reqs = registry.since(mark)
    manifest_reqs = [r for r in reqs if r.kind == "manifest"]
    # resolving the tag is exactly one HEAD, and the only request by tag
    assert [(r.method, r.reference) for r in manifest_reqs if r.reference == img.tags[0]] == [
        ("HEAD", img.tags[0])
    ]
    assert manifest_reqs[0].method == "HEAD"
    # every manifest GET is by digest, each once
    gets = [r.reference for r in manifest_reqs if r.method == "GET"]
    assert gets and all(g is not None and g.startswith("sha256:") for g in gets)
    assert len(gets) == len(set(gets))
    assert all(r.status in (200, 206) for r in reqs)
    assert all(r.user_agent.startswith("ctrpy/") for r in reqs)


def test_resolve_by_digest_is_one_head(
    registry: Registry, registry_images: StandardImages, tmp_path: Path
) -> None:
    img = registry_images.hello_linux
    mark = registry.mark()
    with Client(options(tmp_path)) as c:
        got = c.resolve(reference.parse(img.ref_by_digest))
    assert str(got.descriptor.digest) == img.digest and got.descriptor.size == img.size
    assert got.host == registry.url
    assert [(r.method, r.kind, r.reference) for r in registry.since(mark)] == [
        ("HEAD", "manifest", img.digest)
    ]


@pytest.mark.parametrize("offset", [1, 100], ids=lambda o: f"offset{o}")
def test_fetch_blob_from_offset(
    registry: Registry, registry_images: StandardImages, tmp_path: Path, offset: int
) -> None:
    img = registry_images.single_oci
    layer = img.manifests[0].layers[0]
    assert layer.data is not None
    ref = reference.parse(img.ref())
    desc = oci.Descriptor(layer.media_type, Digest.parse(layer.digest), layer.size)
    mark = registry.mark()
    with Client(options(tmp_path)) as c:
        got = b"".join(c.fetch_blob(ref, desc, offset=offset))
    assert got == layer.data[offset:]
    assert [r.status for r in registry.since(mark)] == [206]


@pytest.mark.parametrize(
    "ref_text", ["test/single:no-such-tag", "no/such-repo:latest"], ids=["tag", "repo"]
)
def test_not_found(
    registry: Registry, registry_images: StandardImages, tmp_path: Path, ref_text: str
) -> None:
    ref = reference.parse(f"{registry.host}/{ref_text}")
    with Client(options(tmp_path)) as c, pytest.raises(NotFound) as info:
        c.resolve(ref)
    assert "404 not found" in info.value.message and str(ref) in info.value.message
    assert registry.host in info.value.message and info.value.exit_code == 3
    # a GET's error body carries the registry's code and message
    desc = oci.Descriptor(registry_images.single_oci.media_type, Digest.of(b"missing"), 7)
    with Client(options(tmp_path)) as c, pytest.raises(NotFound) as info:
        c.fetch_manifest(ref, desc)
    assert "MANIFEST_UNKNOWN: manifest unknown" in info.value.message
    assert str(desc.digest) in info.value.message


def test_basic_auth(
    auth_registry: Registry, auth_registry_images: StandardImages, tmp_path: Path
) -> None:
    img = auth_registry_images.single_docker
    mark = auth_registry.mark()
    with Client(options(tmp_path, user=TEST_USER, password=TEST_PASSWORD)) as c:
        fetch_everything(c, img)
    reqs = auth_registry.since(mark)
    # one 401 (the challenge), then everything authorized at once
    assert [r.status for r in reqs].count(401) == 1
    assert reqs[0].status == 401 and reqs[1].method == "HEAD"


@pytest.mark.parametrize(
    ("user", "password", "words"),
    [
        (None, None, "requires authentication"),
        (TEST_USER, "wrong password", f"refused the credentials of user {TEST_USER!r}"),
    ],
    ids=["anonymous", "wrong-password"],
)
def test_basic_auth_refused(
    auth_registry: Registry,
    auth_registry_images: StandardImages,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    user: str | None,
    password: str | None,
    words: str,
) -> None:
    caplog.set_level("DEBUG", logger="ctrpy")
    ref = reference.parse(auth_registry_images.single_oci.ref())
    with (
        Client(options(tmp_path, user=user, password=password)) as c,
        pytest.raises(AuthError) as info,
    ):
        c.resolve(ref)
    assert words in info.value.message and info.value.exit_code == 4
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("ctrpy"))
    for secret in (TEST_PASSWORD, "wrong password"):
        assert secret not in info.value.message + str(info.value.hint) + logged


def test_pull_through_a_mirror_carries_ns(
    registry: Registry,
    proxy_registry: Registry,
    registry_images: StandardImages,
    tmp_path: Path,
) -> None:
    img = registry_images.single_oci
    mark = proxy_registry.mark()
    with Client(options(tmp_path, mirrors=(proxy_registry.url,))) as c:
        got = c.resolve(reference.parse(img.ref()))
        assert got.host == proxy_registry.url
        assert c.fetch_manifest(reference.parse(img.ref()), got.descriptor) == img.data
    reqs = proxy_registry.since(mark)
    assert reqs and all(r.params.get("ns") == [registry.host] for r in reqs)


def test_one_client_serves_many_threads(
    registry: Registry, registry_images: StandardImages, tmp_path: Path
) -> None:
    images = [registry_images.shared_app1, registry_images.shared_app2, registry_images.docker_list]
    with Client(options(tmp_path)) as c, ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda img: fetch_everything(c, img), images * 2))
