"""The test harness itself: the real registry starts, takes our images and serves them back."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Callable

import httpx
import pytest

from tests.support import images
from tests.support import registry as registry_mod
from tests.support.images import PushedImage, StandardImages
from tests.support.registry import (
    TEST_PASSWORD,
    TEST_USER,
    Registry,
    RegistryUnavailable,
    Request,
    parse_access_log,
)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def pick(std: StandardImages, name: str) -> PushedImage:
    img = getattr(std, name)
    assert isinstance(img, PushedImage)
    return img


TOPS = [
    pytest.param("hello_linux", "linux", images.OCI_INDEX, id="hello-world:linux"),
    pytest.param("hello_linux", "latest", images.OCI_INDEX, id="hello-world:latest"),
    pytest.param("hello_windows", "nanoserver-ltsc2022", images.OCI_INDEX, id="hello-world:nano"),
    pytest.param("docker_list", "latest", images.DOCKER_LIST, id="docker-list"),
    pytest.param("single_oci", "latest", images.OCI_MANIFEST, id="single-oci"),
    pytest.param("single_docker", "latest", images.DOCKER_MANIFEST, id="single-docker"),
    pytest.param("shared_app1", "latest", images.OCI_MANIFEST, id="shared-app1"),
]


@pytest.mark.parametrize(("name", "tag", "media_type"), TOPS)
@pytest.mark.parametrize("by", ["tag", "digest"])
def test_top_document_served_back_with_pushed_digest(
    registry: Registry,
    registry_images: StandardImages,
    registry_requests: Callable[[], list[Request]],
    name: str,
    tag: str,
    media_type: str,
    by: str,
) -> None:
    img = pick(registry_images, name)
    ref = tag if by == "tag" else img.digest
    path = f"/v2/{img.repository}/manifests/{ref}"
    resp = httpx.get(registry.url + path, headers={"Accept": images.ACCEPT_ALL})

    assert resp.status_code == 200
    assert sha256(resp.content) == img.digest
    assert len(resp.content) == img.size
    assert resp.headers["Content-Type"] == media_type == img.media_type
    assert resp.headers["Docker-Content-Digest"] == img.digest
    assert [(r.method, r.path, r.status) for r in registry_requests()] == [("GET", path, 200)]


def test_head_on_tag_gives_digest_and_is_logged(
    registry: Registry,
    registry_images: StandardImages,
    registry_requests: Callable[[], list[Request]],
) -> None:
    img = registry_images.hello_linux
    url = f"{registry.url}/v2/library/hello-world/manifests/linux"
    resp = httpx.head(url, headers={"Accept": images.OCI_INDEX})

    assert resp.status_code == 200
    assert resp.headers["Docker-Content-Digest"] == img.digest
    assert int(resp.headers["Content-Length"]) == img.size
    reqs = registry_requests()
    assert [str(r) for r in reqs] == ["HEAD /v2/library/hello-world/manifests/linux 200"]
    assert (reqs[0].kind, reqs[0].repository, reqs[0].reference) == (
        "manifest",
        "library/hello-world",
        "linux",
    )


def test_every_manifest_and_blob_is_served_by_digest(
    registry: Registry, registry_images: StandardImages
) -> None:
    with httpx.Client(base_url=registry.url, headers={"Accept": images.ACCEPT_ALL}) as c:
        for img in registry_images.all:
            for m in img.manifests:
                got = c.get(f"/v2/{img.repository}/manifests/{m.digest}")
                assert (got.status_code, sha256(got.content)) == (200, m.digest)
                assert got.headers["Content-Type"] == m.media_type
            for b in img.blobs:
                got = c.get(f"/v2/{img.repository}/blobs/{b.digest}")
                assert (got.status_code, sha256(got.content), len(got.content)) == (
                    200,
                    b.digest,
                    b.size,
                )


@pytest.mark.parametrize(
    ("name", "platforms"),
    [
        pytest.param(
            "hello_linux",
            ("linux/amd64", "linux/arm64/v8", "linux/arm/v7", "unknown/unknown"),
            id="hello-linux",
        ),
        pytest.param("hello_windows", ("windows/amd64",), id="hello-windows"),
        pytest.param("docker_list", ("linux/amd64", "linux/arm64/v8"), id="docker-list"),
    ],
)
def test_index_lists_the_platforms(
    registry_images: StandardImages, name: str, platforms: tuple[str, ...]
) -> None:
    img = pick(registry_images, name)
    doc = httpx.Response(200, content=img.data).json()
    listed = [
        "/".join(filter(None, (p["os"], p["architecture"], p.get("variant"))))
        for p in (e["platform"] for e in doc["manifests"])
    ]
    assert tuple(listed) == platforms == img.platforms
    assert doc["mediaType"] == img.media_type


def test_hello_world_details_match_docker_hub_shape(registry_images: StandardImages) -> None:
    linux = httpx.Response(200, content=registry_images.hello_linux.data).json()
    att = linux["manifests"][3]
    assert att["annotations"] == {
        "vnd.docker.reference.digest": linux["manifests"][0]["digest"],
        "vnd.docker.reference.type": "attestation-manifest",
    }
    windows = httpx.Response(200, content=registry_images.hello_windows.data).json()
    assert windows["manifests"][0]["platform"]["os.version"] == images.NANOSERVER_OS_VERSION
    arm = registry_images.hello_linux.manifest_for("linux/arm64/v8")
    assert arm.platform == images.PlatformSpec("linux", "arm64", "v8")


def test_shared_images_share_exactly_their_base_layers(registry_images: StandardImages) -> None:
    app1 = {b.digest for b in registry_images.shared_app1.blobs}
    app2 = {b.digest for b in registry_images.shared_app2.blobs}
    shared = {b.digest for b in registry_images.shared_layers}
    assert app1 & app2 == shared
    assert len(shared) == 2
    assert registry_images.shared_app1.digest != registry_images.shared_app2.digest


def test_builders_are_deterministic() -> None:
    assert images.hello_world_linux() == images.hello_world_linux()
    assert images.docker_manifest_list().digest == images.docker_manifest_list().digest
    assert images.random_layer(3000, seed=7).digest == images.random_layer(3000, seed=7).digest
    assert images.random_layer(3000, seed=7).digest != images.random_layer(3000, seed=8).digest


def test_big_streamed_layers_push_and_verify(registry: Registry) -> None:
    size = images.SMALL_BLOB_LIMIT + 12345  # over the limit: streamed PATCH upload
    big = images.big_image(1, size, seed=42)
    layer = big.layers[0]
    assert layer.data is None and layer.size > size
    pushed = images.push(registry.url, "test/harness-big", big, ("latest",))

    h = hashlib.sha256()
    total = 0
    with httpx.stream("GET", f"{registry.url}/v2/test/harness-big/blobs/{layer.digest}") as resp:
        assert resp.status_code == 200
        for chunk in resp.iter_bytes():
            h.update(chunk)
            total += len(chunk)
    assert ("sha256:" + h.hexdigest(), total) == (layer.digest, layer.size)
    assert pushed.ref() == f"{registry.host}/test/harness-big:latest"


def test_proxy_serves_upstream_image_with_ns_and_upstream_sees_it(
    registry: Registry, proxy_registry: Registry, registry_images: StandardImages
) -> None:
    img = registry_images.hello_linux
    upstream_mark, proxy_mark = registry.mark(), proxy_registry.mark()
    amd64 = img.manifest_for("linux/amd64")
    with httpx.Client(base_url=proxy_registry.url, params={"ns": "docker.io"}) as c:
        top = c.get("/v2/library/hello-world/manifests/linux", headers={"Accept": img.media_type})
        child = c.get(
            f"/v2/library/hello-world/manifests/{amd64.digest}",
            headers={"Accept": amd64.media_type},
        )
        blob = c.get(f"/v2/library/hello-world/blobs/{amd64.layers[0].digest}")

    assert (top.status_code, sha256(top.content)) == (200, img.digest)
    assert (child.status_code, sha256(child.content)) == (200, amd64.digest)
    assert (blob.status_code, sha256(blob.content)) == (200, amd64.layers[0].digest)

    at_proxy = proxy_registry.since(proxy_mark)
    assert len(at_proxy) == 3
    assert all(r.params == {"ns": ["docker.io"]} and r.status == 200 for r in at_proxy)

    at_upstream = registry.since(upstream_mark)
    assert any(
        r.kind == "manifest" and r.path == "/v2/library/hello-world/manifests/linux"
        for r in at_upstream
    )
    assert all(r.query == "" for r in at_upstream)  # the proxy does not forward ?ns=


def test_proxy_refuses_pushes(proxy_registry: Registry) -> None:
    resp = httpx.post(f"{proxy_registry.url}/v2/test/x/blobs/uploads/")
    assert resp.status_code == 405


def test_cold_proxy_pings_upstream(make_registry: Callable[..., Registry]) -> None:
    upstream = make_registry(name="upstream")
    images.push(upstream.url, "library/hello-world", images.hello_world_linux(), ("linux",))
    with upstream.recording() as at_start:
        proxy = make_registry(name="proxy", upstream=upstream)
    with upstream.recording() as at_head:
        resp = httpx.head(
            f"{proxy.url}/v2/library/hello-world/manifests/linux?ns=docker.io",
            headers={"Accept": images.OCI_INDEX},
        )
    assert resp.status_code == 200
    assert [(r.method, r.kind) for r in at_start] == [("GET", "ping")]
    kinds = [(r.method, r.kind) for r in at_head]
    assert kinds[0] == ("GET", "ping")
    assert ("HEAD", "manifest") in kinds


@pytest.mark.parametrize(
    ("auth", "status"),
    [
        pytest.param(None, 401, id="anonymous"),
        pytest.param((TEST_USER, "wrong"), 401, id="wrong-password"),
        pytest.param((TEST_USER, TEST_PASSWORD), 200, id="right-password"),
    ],
)
def test_auth_registry_basic(
    auth_registry: Registry,
    auth_registry_images: StandardImages,
    auth: tuple[str, str] | None,
    status: int,
) -> None:
    img = auth_registry_images.hello_linux
    mark = auth_registry.mark()
    resp = httpx.get(
        f"{auth_registry.url}/v2/library/hello-world/manifests/{img.digest}",
        headers={"Accept": img.media_type},
        auth=auth,
    )
    assert resp.status_code == status
    if status == 401:
        assert resp.headers["WWW-Authenticate"] == 'Basic realm="ctrpy-test"'
    else:
        assert sha256(resp.content) == img.digest
    reqs = auth_registry.since(mark)
    assert [(r.method, r.status) for r in reqs] == [("GET", status)]


def test_auth_registry_credentials(auth_registry: Registry) -> None:
    assert auth_registry.credentials == (TEST_USER, TEST_PASSWORD)
    assert auth_registry.htpasswd_path.read_text().startswith(f"{TEST_USER}:$2b$")


def test_port_clash_is_retried(
    make_registry: Callable[..., Registry], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = iter([busy])
        real = registry_mod._free_port
        monkeypatch.setattr(registry_mod, "_free_port", lambda: next(ports, None) or real())
        reg = make_registry(name="clash")
    assert reg.port != busy
    assert httpx.get(f"{reg.url}/v2/").status_code == 200


def test_stop_ends_the_process(tmp_path: os.PathLike[str]) -> None:
    reg = Registry(name="short-lived").start()
    pid = reg.pid
    assert pid is not None and reg.running
    workdir = reg.workdir
    reg.stop()
    assert not reg.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not workdir.exists()  # its own temp dir is removed


def test_missing_binary_says_how_to_install() -> None:
    with pytest.raises(RegistryUnavailable, match=r"\.ci/run"):
        Registry(binary="docker-registry-not-installed").start()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            '127.0.0.1 - - [04/Dec/2026:15:39:02 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"',
            Request("GET", "/v2/", "", 200, 2, None, "curl/7.88.1"),
            id="ping",
        ),
        pytest.param(
            '127.0.0.1 - alice [04/Dec/2026:15:39:02 +0000] "HEAD /v2/library/x/manifests/y'
            '?ns=docker.io HTTP/1.1" 404 91 "" "ctrpy/0.1 \\"q\\""',
            Request(
                "HEAD",
                "/v2/library/x/manifests/y",
                "ns=docker.io",
                404,
                91,
                "alice",
                'ctrpy/0.1 \\"q\\"',
            ),
            id="user-query-escaped-agent",
        ),
        pytest.param("time=... level=info msg=noise", None, id="not-an-access-line"),
    ],
)
def test_parse_access_log(line: str, expected: Request | None) -> None:
    assert parse_access_log(line + "\n") == ([expected] if expected else [])


@pytest.mark.parametrize(
    ("path", "kind", "repository", "reference"),
    [
        ("/v2/", "ping", None, None),
        ("/v2/library/hello-world/manifests/linux", "manifest", "library/hello-world", "linux"),
        ("/v2/a/b/c/blobs/sha256:ab", "blob", "a/b/c", "sha256:ab"),
        ("/v2/a/blobs/uploads/", "upload", "a", None),
        ("/v2/a/blobs/uploads/1234-uuid", "upload", "a", None),
        ("/v2/a/tags/list", "tags", "a", None),
        ("/v2/_catalog", "catalog", None, None),
    ],
)
def test_request_kind(path: str, kind: str, repository: str | None, reference: str | None) -> None:
    r = Request("GET", path, "", 200)
    assert (r.kind, r.repository, r.reference) == (kind, repository, reference)
