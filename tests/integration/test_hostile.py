"""Hostile or broken input (issue 8): references, manifests and indexes, headers.

A hostile registry is the real docker-registry behind the fault proxy, which serves canned
manifests and headers for the cases a real registry would never produce.  Each case runs
the installed ``ctrpy`` in a subprocess and checks that it is refused with a clear error
(one ``error:`` line, the right exit code, no traceback), that nothing was written outside
the store, and that the store holds nothing unverified.  The reference grammar goes through
click's CliRunner (in process: 100+ cases) plus a few real subprocesses.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ctrpy.cli.main import cli
from ctrpy.store import Store
from tests.support import images
from tests.support.faultproxy import (
    Canned,
    CtrpyEnv,
    FaultProxy,
    LieDigest,
    Response,
    Rule,
    Run,
    bearer_gate,
    blob_path,
    blob_problems,
    hermetic_env,
    manifest_path,
    token_realm,
)
from tests.support.registry import Registry

DATA = Path(__file__).parent.parent / "data"
OCI_MANIFEST = images.OCI_MANIFEST
OCI_INDEX = images.OCI_INDEX
OCI_CONFIG = images.OCI_CONFIG
OCI_LAYER = images.OCI_LAYER_GZIP
MiB = 1 << 20


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def doc(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


# --- the world of one test -------------------------------------------------------------------


@dataclass
class World:
    """A store deep inside ``base``, an empty working directory and HOME beside it, so
    anything written outside the store can be found."""

    base: Path
    ctrpy: CtrpyEnv
    passwd_before: bytes

    def written_outside(self) -> list[str]:
        """Files that appeared under ``base`` outside the store (HOME's empty directories
        and the empty working directory are expected)."""
        found = []
        for path in sorted(self.base.rglob("*")):
            if path.is_dir() or self.ctrpy.root in path.parents:
                continue
            found.append(str(path.relative_to(self.base)))
        return found

    def assert_clean(self) -> None:
        """Nothing outside the store, nothing unverified in it, no image recorded."""
        assert self.written_outside() == []
        assert Path("/etc/passwd").read_bytes() == self.passwd_before
        root = self.ctrpy.root
        assert blob_problems(root) == []
        if root.exists():
            store = Store(root)
            assert store.check() == []
            assert store.images.list() == []


@pytest.fixture
def world(tmp_path: Path) -> World:
    base = tmp_path / "w"
    return World(
        base,
        CtrpyEnv.make(base, root=base / "deep" / "er" / "store"),
        Path("/etc/passwd").read_bytes(),
    )


def assert_refused(run: Run, exit_code: int, words: str) -> None:
    """One clear error (of a ``--quiet`` run): the exit code, one ``error:`` line matching
    ``words``, at most a hint after it, nothing else, no traceback."""
    assert run.returncode == exit_code, run.explain()
    assert "Traceback" not in run.stderr, run.stderr
    assert len(run.error_lines) == 1, run.stderr
    assert re.search(words, run.error_lines[0], re.IGNORECASE), run.error_lines[0]
    other = [line for line in run.stderr.splitlines() if not line.startswith(("error:", "hint:"))]
    assert other == [], run.stderr


@pytest.fixture
def proxy(registry: Registry) -> Iterator[FaultProxy]:
    with FaultProxy(registry.url) as p:
        yield p


@pytest.fixture(scope="module")
def honest(registry: Registry) -> images.PushedImage:
    """A real small image: what the header cases pull."""
    img = images.simple_image(files={"hostile": b"an honest image\n"})
    return images.push(registry.url, "hostile/honest", img, ("latest",))


# --- manifests and indexes -----------------------------------------------------------------------


def _layer(**override: Any) -> dict[str, Any]:
    data = b"layer"
    return {"mediaType": OCI_LAYER, "digest": sha256(data), "size": len(data), **override}


def _config(**override: Any) -> dict[str, Any]:
    data = b"{}"
    return {"mediaType": OCI_CONFIG, "digest": sha256(data), "size": len(data), **override}


def _manifest(**override: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _config(),
        "layers": [_layer()],
        **override,
    }


def _entry(**override: Any) -> dict[str, Any]:
    body = doc(_manifest())
    return {
        "mediaType": OCI_MANIFEST,
        "digest": sha256(body),
        "size": len(body),
        "platform": {"os": "linux", "architecture": "amd64"},
        **override,
    }


def _index(**override: Any) -> dict[str, Any]:
    return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [_entry()], **override}


def serve(
    repo: str,
    body: bytes,
    media_type: str,
    *,
    head_digest: str | None = None,
    get_body: bytes | None = None,
) -> list[Rule]:
    """Serve ``body`` at ``<repo>:latest`` (HEAD and GET) and by its digest.

    ``head_digest`` makes the tag's Docker-Content-Digest lie (and serves the GET by that
    digest too); ``get_body`` makes the GET by digest return a different body."""
    digest = head_digest or sha256(body)
    headers = {"Content-Type": media_type, "Docker-Content-Digest": digest}
    return [
        Canned(manifest_path(repo, "latest"), Response(200, headers, body)),
        Canned(manifest_path(repo, digest), Response(200, headers, get_body or body)),
    ]


@dataclass(frozen=True)
class Case:
    id: str
    rules: Callable[[str], list[Rule]]  # repo -> rules
    exit_code: int
    words: str  # regex the error line must match


def _self_listing_index(repo: str) -> list[Rule]:
    # The registry claims the index's digest is D and the index lists D: a puller that
    # trusted the claim would fetch the index forever.  The body never hashes to D.
    fake = sha256(b"the index itself")
    body = doc(_index(manifests=[_entry(mediaType=OCI_INDEX, digest=fake, size=4096)]))
    return serve(repo, body, OCI_INDEX, head_digest=fake)


def _body_differs(repo: str) -> list[Rule]:
    # Same size, different bytes: only the digest can tell them apart.
    asked = doc(_manifest(annotations={"x": "asked"}))
    other = doc(_manifest(annotations={"x": "other"}))
    return serve(repo, asked, OCI_MANIFEST, get_body=other)


def _big_body_behind_small_head(repo: str) -> list[Rule]:
    # HEAD announces a small manifest; the GET by digest streams more than 4 MiB.
    big = doc(_manifest(annotations={"pad": "x" * (5 * MiB)}))
    digest = sha256(big)
    headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest}
    return [
        Canned(manifest_path(repo, "latest"), Response(200, headers, doc(_manifest()))),
        Canned(manifest_path(repo, digest), Response(200, headers, big)),
    ]


MANIFEST_CASES = [
    Case(
        "invalid-json",
        lambda r: serve(r, b'{"schemaVersion": 2, "config": {', OCI_MANIFEST),
        1,
        r"json",
    ),
    Case(
        "index-served-as-manifest",
        lambda r: serve(r, doc(_index()), OCI_MANIFEST),
        1,
        r"index|manifest",
    ),
    Case(
        "manifest-declares-index-type",
        lambda r: serve(r, doc(_manifest(mediaType=OCI_INDEX)), OCI_MANIFEST),
        1,
        r"mediatype|index|manifest",
    ),
    Case(
        "missing-media-type",
        lambda r: serve(
            r, doc({"schemaVersion": 2, "manifests": [], "layers": []}), "application/json"
        ),
        1,
        r"mediatype|media type|manifest",
    ),
    Case(
        "layer-without-media-type",
        lambda r: serve(
            r, doc(_manifest(layers=[{"digest": sha256(b"x"), "size": 1}])), OCI_MANIFEST
        ),
        1,
        r"mediatype",
    ),
    Case(
        "negative-layer-size",
        lambda r: serve(r, doc(_manifest(layers=[_layer(size=-1)])), OCI_MANIFEST),
        1,
        r"size",
    ),
    Case(
        "absurd-layer-size",
        lambda r: serve(r, doc(_manifest(layers=[_layer(size=1 << 60)])), OCI_MANIFEST),
        1,
        r"size",
    ),
    Case(
        "float-config-size",
        lambda r: serve(r, doc(_manifest(config=_config(size=2.5))), OCI_MANIFEST),
        1,
        r"size",
    ),
    Case(
        "traversal-digest-in-layer",
        lambda r: serve(
            r, doc(_manifest(layers=[_layer(digest="sha256:../../etc/passwd")])), OCI_MANIFEST
        ),
        1,
        r"digest",
    ),
    Case(
        "traversal-digest-in-config",
        lambda r: serve(
            r,
            doc(_manifest(config=_config(digest="sha256:../../../../tmp/ctrpy-pwned"))),
            OCI_MANIFEST,
        ),
        1,
        r"digest",
    ),
    Case(
        "traversal-digest-in-index",
        lambda r: serve(
            r, doc(_index(manifests=[_entry(digest="sha256:../../etc/passwd")])), OCI_INDEX
        ),
        1,
        r"digest",
    ),
    Case(
        "unknown-algorithm",
        lambda r: serve(
            r,
            doc(_manifest(layers=[_layer(digest="md5:" + hashlib.md5(b"x").hexdigest())])),
            OCI_MANIFEST,
        ),
        1,
        r"algorithm|digest",
    ),
    Case(
        "uppercase-hex-digest",
        lambda r: serve(
            r,
            doc(_manifest(layers=[_layer(digest="sha256:" + "AB" * 32)])),
            OCI_MANIFEST,
        ),
        1,
        r"digest|hex",
    ),
    Case(
        "manifest-over-4-MiB",
        lambda r: serve(r, doc(_manifest(annotations={"pad": "x" * (5 * MiB)})), OCI_MANIFEST),
        1,
        r"4194304|4 MiB|larger|bytes",
    ),
    Case(
        "manifest-over-4-MiB-behind-a-small-HEAD",
        _big_body_behind_small_head,
        1,
        r"4194304|4 MiB|larger|bytes|size",
    ),
    Case("body-differs-from-digest", _body_differs, 5, r"digest"),
    Case("index-lists-itself", _self_listing_index, 5, r"digest"),
    Case(
        "thousands-of-layers",
        lambda r: serve(
            r,
            doc(_manifest(layers=[_layer(digest=sha256(b"%d" % i)) for i in range(5000)])),
            OCI_MANIFEST,
        ),
        1,
        r"layers|1000",
    ),
    Case(
        "thousands-of-manifests",
        lambda r: serve(
            r,
            doc(_index(manifests=[_entry(digest=sha256(b"%d" % i)) for i in range(5000)])),
            OCI_INDEX,
        ),
        1,
        r"manifests|1000",
    ),
]


@pytest.mark.parametrize("case", MANIFEST_CASES, ids=[c.id for c in MANIFEST_CASES])
def test_hostile_manifest_is_refused(world: World, proxy: FaultProxy, case: Case) -> None:
    repo = f"hostile/{case.id.lower()}"
    proxy.add(*case.rules(repo))
    run = world.ctrpy.pull(f"{proxy.host}/{repo}:latest", "--quiet")
    assert_refused(run, case.exit_code, case.words)
    if case.exit_code == 5:
        # An integrity error names what was expected and what arrived.
        assert len(re.findall(r"sha256:[0-9a-f]{64}", run.error_lines[0])) >= 2, run.stderr
    world.assert_clean()


# --- headers -----------------------------------------------------------------------------------


def assert_pulled(world: World, image: images.PushedImage, name: str) -> None:
    store = Store(world.ctrpy.root)
    record = store.images.get(name)
    assert record is not None, [r.name for r in store.images.list()]
    assert str(record.target.digest) == image.digest
    assert blob_problems(world.ctrpy.root) == []
    assert store.check() == []
    for blob in image.blobs:
        assert store.content.has_digest(blob.digest)


def test_lying_digest_header_on_fetch_by_digest_is_ignored(
    world: World, proxy: FaultProxy, honest: images.PushedImage
) -> None:
    """The GET by digest says another digest: the body is checked against what was asked,
    so the pull succeeds with the right content."""
    proxy.add(LieDigest(sha256(b"a lie"), path=r"/v2/.+/manifests/sha256:[0-9a-f]{64}"))
    ref = f"{proxy.host}/{honest.repository}:latest"
    run = world.ctrpy.pull(ref)
    assert run.returncode == 0, run.explain()
    assert any("lie-digest" in ex.fired for ex in proxy.requests), "the lie was never told"
    assert_pulled(world, honest, ref)


def test_lying_digest_on_resolve_is_caught_by_the_body(
    world: World, proxy: FaultProxy, honest: images.PushedImage
) -> None:
    """HEAD names digest D and the registry serves its real manifest under D: the body
    does not hash to D, so it is refused (exit 5) and nothing is recorded."""
    lie = sha256(b"another manifest")
    repo = honest.repository
    proxy.add(*serve(repo, honest.data, honest.media_type, head_digest=lie))
    run = world.ctrpy.pull(f"{proxy.host}/{repo}:latest", "--quiet")
    assert_refused(run, 5, re.escape(lie))
    assert honest.digest in run.error_lines[0]
    world.assert_clean()


def test_malformed_digest_header_falls_back_to_hashing(
    world: World, proxy: FaultProxy, honest: images.PushedImage
) -> None:
    """A malformed Docker-Content-Digest (a path) is not used: ctrpy GETs and hashes."""
    proxy.add(LieDigest("sha256:../../etc/passwd", path=r"/v2/.+/manifests/latest"))
    ref = f"{proxy.host}/{honest.repository}:latest"
    run = world.ctrpy.pull(ref)
    assert run.returncode == 0, run.explain()
    assert_pulled(world, honest, ref)
    assert world.written_outside() == []


def _gate(header: str) -> Rule:
    return Canned(
        r"/v2/.*",
        Response(401, {"WWW-Authenticate": header, "Content-Type": "application/json"}, b"{}"),
        label="challenge",
    )


CHALLENGES = [
    ("huge", "Bearer " + ",".join(f'p{i}="{"v" * 90}"' for i in range(1200)), (1, 4)),
    ("unterminated-quote", 'Bearer realm="http://127.0.0.1:1/token', (4,)),
    ("no-realm", 'Bearer service="registry"', (4,)),
    ("file-realm", 'Bearer realm="file:///etc/passwd",service="x"', (4,)),
    ("empty", "", (4,)),
    ("commas-only", ", , ,", (4,)),
    ("unsupported-scheme", "Negotiate YIIFyQYGKwYBBQUCoIIFvTCCBbmgMDAuBgkqhkiC9xIBAgIG", (4,)),
    ("garbage", '\x01\x02 =,="\\', (4,)),
    ("basic-without-credentials", 'Basic realm="registry"', (4,)),
    ("unreachable-realm", 'Bearer realm="http://127.0.0.1:1/token",service="x"', (1, 4)),
]


@pytest.mark.parametrize(
    ("header", "codes"), [c[1:] for c in CHALLENGES], ids=[c[0] for c in CHALLENGES]
)
def test_bad_www_authenticate(
    world: World, proxy: FaultProxy, header: str, codes: tuple[int, ...]
) -> None:
    proxy.add(_gate(header))
    run = world.ctrpy.pull(f"{proxy.host}/hostile/auth:latest")
    assert run.returncode in codes, run.explain()
    assert "Traceback" not in run.stderr
    assert len(run.error_lines) == 1, run.stderr
    assert len(run.stderr) < 2000, f"{len(run.stderr)} bytes of stderr"
    world.assert_clean()


def test_large_but_valid_www_authenticate_works(
    world: World, proxy: FaultProxy, honest: images.PushedImage
) -> None:
    """An 8 KiB challenge (a realm among many parameters) is parsed and followed."""
    with token_realm("t0ken-large") as realm:
        junk = ",".join(f'x{i}="{"j" * 20}"' for i in range(300))
        header = f'Bearer {junk},realm="{realm.url}/token",service="reg"'
        proxy.add(
            Canned(
                r"/v2/.*",
                Response(401, {"WWW-Authenticate": header}, b""),
                when=lambda ex: ex.authorization != "Bearer t0ken-large",
            )
        )
        ref = f"{proxy.host}/{honest.repository}:latest"
        run = world.ctrpy.pull(ref)
        assert run.returncode == 0, run.explain()
        assert_pulled(world, honest, ref)
        assert realm.find(r"/token", "GET")


def test_token_realm_on_another_host(
    world: World, proxy: FaultProxy, honest: images.PushedImage
) -> None:
    """The realm is on another host (localhost:<port>, not the registry's 127.0.0.1:<port>):
    allowed.  The user's credentials go to that realm only; the registry sees the token
    only, and never the password."""
    user, password, token = "realm-user", "realm-pass-41x", "t0ken-another-host"
    with token_realm(token, user, password) as realm:
        realm_url = f"http://localhost:{realm.port}/token"
        proxy.add(bearer_gate(realm_url, "hostile-registry", token))
        ref = f"{proxy.host}/{honest.repository}:latest"
        run = world.ctrpy.pull(ref, "--user", f"{user}:{password}")
        assert run.returncode == 0, run.explain()
        assert_pulled(world, honest, ref)
        asked = realm.find(r"/token")
        assert asked and all(
            ex.authorization and ex.authorization.startswith("Basic ") for ex in asked
        )
        assert all("scope=repository" in ex.query for ex in asked), [ex.target for ex in asked]
        at_registry = {ex.authorization for ex in proxy.requests}
        assert at_registry <= {None, f"Bearer {token}"}, at_registry


def test_redirect_to_another_host_carries_no_authorization(
    world: World, proxy: FaultProxy, honest: images.PushedImage
) -> None:
    """Every blob is redirected to another host (like object storage): the pull works,
    and that host never sees an Authorization header."""
    token = "t0ken-redirect"
    with token_realm(token) as realm, FaultProxy(None) as storage:
        for blob in honest.blobs:
            data = b"".join(blob.chunks())
            storage.add(
                Canned(
                    blob_path(honest.repository, blob.digest),
                    Response(200, {"Content-Type": "application/octet-stream"}, data),
                )
            )
            target = f"http://localhost:{storage.port}/v2/{honest.repository}/blobs/{blob.digest}"
            proxy.add(
                Canned(
                    blob_path(honest.repository, blob.digest),
                    Response(307, {"Location": target}),
                    methods=("GET",),
                    when=lambda ex: ex.authorization == f"Bearer {token}",
                )
            )
        proxy.rules.insert(0, bearer_gate(f"{realm.url}/token", "reg", token))
        ref = f"{proxy.host}/{honest.repository}:latest"
        run = world.ctrpy.pull(ref)
        assert run.returncode == 0, run.explain()
        assert_pulled(world, honest, ref)
        fetched = storage.requests
        assert len(fetched) >= len(honest.blobs)
        assert [ex.authorization for ex in fetched] == [None] * len(fetched)


@pytest.mark.parametrize(
    ("location", "words"),
    [
        ("file:///etc/passwd", r"file|protocol|scheme|redirect|reach"),
        ("LOOP", r"redirect"),
        ("http://a..b/blob", r"unusable URL"),
    ],
    ids=["to-file-url", "loop", "to-unencodable-host"],
)
def test_hostile_redirects_fail_cleanly(
    world: World, proxy: FaultProxy, honest: images.PushedImage, location: str, words: str
) -> None:
    layer = honest.image.layers[0] if isinstance(honest.image, images.ImageManifest) else None
    assert layer is not None
    path = f"/v2/{honest.repository}/blobs/{layer.digest}"
    target = f"{proxy.url}{path}" if location == "LOOP" else location
    proxy.add(Canned(re.escape(path), Response(302, {"Location": target}), methods=("GET",)))
    run = world.ctrpy.pull(f"{proxy.host}/{honest.repository}:latest", "--quiet")
    assert_refused(run, 1, words)
    world.assert_clean()


# --- references ----------------------------------------------------------------------------------


def _invalid_references() -> list[str]:
    cases = json.loads((DATA / "reference_normalize.json").read_text())
    return [c["input"] for c in cases if not c["valid"]]


INVALID = _invalid_references()
CONTROL = ["A\n", "foo\nbar", "foo\r", "foo\x1b[31mred", "foo\tbar", "foo\x00", "\u212a:tag"]


def test_the_vectors_hold_the_whole_invalid_grammar() -> None:
    assert len(INVALID) == 99


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    # Running the CLI in this process rewires the ctrpy logger; put it back afterwards so
    # later tests (caplog) see it as they expect.
    logger = logging.getLogger("ctrpy")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield hermetic_env(tmp_path_factory.mktemp("cli-home"))
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


@pytest.mark.parametrize("text", INVALID + CONTROL, ids=lambda t: repr(t)[1:-1][:60] or "empty")
def test_invalid_reference_exit_2_one_line(
    text: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """``ctrpy image pull -- REF``: exit 2, one ``error:`` line (and at most a hint),
    nothing on stdout, no traceback, no store created."""
    root = tmp_path / "store"
    result = CliRunner().invoke(
        cli, ["--root", str(root), "image", "pull", "--", text], env=cli_env
    )
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) in (1, 2) and lines[0].startswith("error: "), result.stderr
    assert lines[1:] == [] or lines[1].startswith("hint: "), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not root.exists()


@pytest.mark.parametrize(
    "text", ["", "-docker", "foo\nbar", "a" * 300], ids=["empty", "dash", "newline", "long"]
)
def test_invalid_reference_through_the_installed_ctrpy(world: World, text: str) -> None:
    run = world.ctrpy.pull(text)
    assert run.returncode == 2, run.explain()
    assert run.stdout == ""
    assert run.stderr.startswith("error: ")
    assert len(run.error_lines) == 1
    assert all(line.startswith(("error: ", "hint: ")) for line in run.stderr.splitlines())
    world.assert_clean()


# --- blobs that do not match their descriptor ------------------------------------------------


@pytest.mark.parametrize(
    ("change", "exit_code", "words"),
    [
        (lambda data: data + b"and some more", 5, r"more than|size|digest"),
        (lambda data: data[:-7], 1, r"broke|ended|short|size|truncat"),
    ],
    ids=["longer", "shorter"],
)
def test_blob_of_the_wrong_length_is_not_committed(
    world: World,
    proxy: FaultProxy,
    honest: images.PushedImage,
    change: Callable[[bytes], bytes],
    exit_code: int,
    words: str,
) -> None:
    """The registry serves a layer longer or shorter than its descriptor says (a complete
    HTTP response each time): refused, nothing committed, the store sound."""
    layer = honest.image.layers[0] if isinstance(honest.image, images.ImageManifest) else None
    assert layer is not None
    body = change(b"".join(layer.chunks()))
    proxy.add(
        Canned(
            blob_path(honest.repository, layer.digest),
            Response(200, {"Content-Type": "application/octet-stream"}, body),
            methods=("GET",),
        )
    )
    run = world.ctrpy.pull(f"{proxy.host}/{honest.repository}:latest", "--quiet")
    assert_refused(run, exit_code, words)
    assert not world.ctrpy.blob(layer.digest).exists()
    world.assert_clean()
