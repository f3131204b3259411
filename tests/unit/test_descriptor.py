"""ctrpy.oci.descriptor: parsing untrusted manifests and indexes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrpy.errors import CtrpyError, InvalidManifest
from ctrpy.oci import descriptor, mediatypes
from ctrpy.oci.descriptor import (
    MAX_ENTRIES,
    MAX_MANIFEST_SIZE,
    Descriptor,
    Index,
    Manifest,
    Platform,
)
from ctrpy.oci.digest import Digest

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


def _layer(digest: str = D2, size: int = 20, **extra: Any) -> dict[str, Any]:
    return {"mediaType": mediatypes.OCI_LAYER_GZIP, "digest": digest, "size": size, **extra}


def _manifest(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": D1, "size": 10},
        "layers": [_layer()],
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not ...}


def _index(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_INDEX,
        "manifests": [
            {
                "mediaType": mediatypes.OCI_MANIFEST,
                "digest": D3,
                "size": 500,
                "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
            }
        ],
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not ...}


def _body(doc: object) -> bytes:
    return json.dumps(doc).encode()


# --- what parses ---------------------------------------------------------------------------


def test_oci_manifest() -> None:
    m = descriptor.parse(_body(_manifest()), mediatypes.OCI_MANIFEST)
    assert m == Manifest(
        media_type=mediatypes.OCI_MANIFEST,
        config=Descriptor(mediatypes.OCI_CONFIG, Digest.parse(D1), 10),
        layers=(Descriptor(mediatypes.OCI_LAYER_GZIP, Digest.parse(D2), 20),),
    )
    assert [d.key for d in (m.config, *m.layers)] == [f"config-{D1}", f"layer-{D2}"]


def test_docker_manifest_served_with_parameters() -> None:
    doc = _manifest(
        mediaType=mediatypes.DOCKER_MANIFEST,
        config={"mediaType": mediatypes.DOCKER_CONFIG, "digest": D1, "size": 10},
        layers=[_layer(mediaType=mediatypes.DOCKER_LAYER_GZIP)],
    )
    m = descriptor.parse(_body(doc), mediatypes.DOCKER_MANIFEST + "; charset=utf-8")
    assert isinstance(m, Manifest)
    assert m.media_type == mediatypes.DOCKER_MANIFEST


def test_index_with_platforms() -> None:
    idx = descriptor.parse(_body(_index()), mediatypes.OCI_INDEX)
    assert isinstance(idx, Index)
    (entry,) = idx.manifests
    assert entry.platform == Platform("linux", "arm64", "v8")
    assert entry.key == f"manifest-{D3}"


@pytest.mark.parametrize(
    ("doc", "declared", "expected_type"),
    [
        pytest.param(_manifest(mediaType=...), None, Manifest, id="manifest-by-fields"),
        pytest.param(_index(mediaType=...), None, Index, id="index-by-fields"),
        pytest.param(_manifest(), None, Manifest, id="manifest-by-own-type"),
        pytest.param(_manifest(), "application/json", Manifest, id="generic-content-type"),
        pytest.param(_manifest(), mediatypes.DOCKER_MANIFEST, Manifest, id="oci-doc-as-docker"),
        pytest.param(_index(), mediatypes.DOCKER_MANIFEST_LIST, Index, id="oci-index-as-list"),
        pytest.param(_manifest(layers=[]), None, Manifest, id="no-layers"),
        pytest.param(_index(manifests=[]), None, Index, id="empty-index"),
    ],
)
def test_parses(doc: dict[str, Any], declared: str | None, expected_type: type) -> None:
    assert isinstance(descriptor.parse(_body(doc), declared), expected_type)


def test_descriptor_json_round_trip() -> None:
    data = {
        "mediaType": mediatypes.OCI_MANIFEST,
        "digest": D3,
        "size": 7,
        "urls": ["https://example.invalid/x"],
        "annotations": {"org.opencontainers.image.ref.name": "latest"},
        "platform": {
            "architecture": "amd64",
            "os": "windows",
            "os.version": "10.0.17763.5329",
            "os.features": ["win32k"],
        },
    }
    desc = Descriptor.from_json(data)
    assert desc.platform == Platform("windows", "amd64", None, "10.0.17763.5329", ("win32k",))
    assert desc.to_json() == data


@pytest.mark.parametrize(
    ("media_type", "key"),
    [
        (mediatypes.OCI_INDEX, "index"),
        (mediatypes.DOCKER_MANIFEST, "manifest"),
        (mediatypes.DOCKER_CONFIG, "config"),
        (mediatypes.DOCKER_LAYER_FOREIGN_GZIP, "layer"),
        (mediatypes.IN_TOTO, "layer"),
    ],
)
def test_key(media_type: str, key: str) -> None:
    assert Descriptor(media_type, Digest.parse(D1), 1).key == f"{key}-{D1}"


# --- what is refused -------------------------------------------------------------------------


def _with_layer(**fields: Any) -> bytes:
    layer = {k: v for k, v in {**_layer(), **fields}.items() if v is not ...}
    return _body(_manifest(layers=[layer]))


BAD: list[Any] = [
    pytest.param(b"{", "not valid JSON", id="truncated-json"),
    pytest.param(b"\xff\xfe\x00", "not valid JSON", id="not-utf8"),
    pytest.param(b"[" * 100_000, "not valid JSON", id="deep-nesting"),
    pytest.param(b"[]", "expected a JSON object", id="top-level-list"),
    pytest.param(b"null", "expected a JSON object", id="top-level-null"),
    pytest.param(_body(_manifest(schemaVersion=1)), "schemaVersion", id="schema-version-1"),
    pytest.param(_body(_manifest(schemaVersion=...)), "schemaVersion", id="no-schema-version"),
    pytest.param(_body({"schemaVersion": 1, "fsLayers": [{}]}), "schema 1", id="schema1-doc"),
    pytest.param(_with_layer(mediaType=...), "missing or invalid mediaType", id="layer-no-type"),
    pytest.param(_with_layer(mediaType="tar"), "invalid mediaType", id="layer-type-syntax"),
    pytest.param(_with_layer(mediaType=7), "missing or invalid mediaType", id="layer-type-int"),
    pytest.param(
        _body(_manifest(mediaType=mediatypes.OCI_CONFIG)), "unsupported", id="config-type-doc"
    ),
    pytest.param(
        _body(_manifest(mediaType=mediatypes.OCI_ARTIFACT_MANIFEST)), "unsupported", id="artifact"
    ),
    pytest.param(_body(_manifest(mediaType=5)), "mediaType must be a string", id="type-int"),
    pytest.param(
        _body({**_manifest(mediaType=...), "manifests": []}), "neither", id="ambiguous-doc"
    ),
    pytest.param(_with_layer(size=-1), "absurd size -1", id="negative-size"),
    pytest.param(_with_layer(size=1 << 41), "absurd size", id="absurd-size"),
    pytest.param(_with_layer(size="20"), "size must be an integer", id="size-string"),
    pytest.param(_with_layer(size=True), "size must be an integer", id="size-bool"),
    pytest.param(_with_layer(size=20.5), "size must be an integer", id="size-float"),
    pytest.param(_with_layer(size=...), "size must be an integer", id="size-missing"),
    pytest.param(_with_layer(digest="sha256:../../etc/passwd"), "invalid digest", id="path-digest"),
    pytest.param(_with_layer(digest="md5:" + "a" * 32), "unsupported algorithm", id="md5"),
    pytest.param(_with_layer(digest="sha256:" + "A" * 64), "lowercase hex", id="upper-hex"),
    pytest.param(_with_layer(digest="sha256:" + "a" * 63), "exactly 64", id="short-hex"),
    pytest.param(_with_layer(digest=...), "missing or invalid digest", id="no-digest"),
    pytest.param(_with_layer(annotations={"a": 1}), "annotations", id="annotation-int"),
    pytest.param(_with_layer(urls="http://x"), "urls must be a list", id="urls-string"),
    pytest.param(_body(_manifest(config=...)), "has no config", id="no-config"),
    pytest.param(_body(_manifest(config=[])), "expected a JSON object", id="config-list"),
    pytest.param(_body(_manifest(layers={})), "layers must be a list", id="layers-object"),
    pytest.param(
        _body(_manifest(layers=[_layer()] * (MAX_ENTRIES + 1))), "at most 1000", id="many-layers"
    ),
    pytest.param(
        _body(_index(manifests=_index()["manifests"] * (MAX_ENTRIES + 1))),
        "at most 1000",
        id="many-manifests",
    ),
    pytest.param(
        _body(_index(manifests=[{**_index()["manifests"][0], "size": MAX_MANIFEST_SIZE + 1}])),
        "more than",
        id="huge-child-manifest",
    ),
    pytest.param(
        _body(_index(manifests=[{**_index()["manifests"][0], "platform": {"os": "linux"}}])),
        "platform: missing or invalid architecture",
        id="platform-no-arch",
    ),
    pytest.param(
        _body({**_index(), "config": _manifest()["config"]}), "expected an index", id="index+config"
    ),
    pytest.param(_body({**_index(), "layers": [_layer()]}), "expected an index", id="index+layers"),
    pytest.param(
        _body({**_manifest(), "manifests": _index()["manifests"]}),
        "expected a manifest",
        id="manifest+manifests",
    ),
    pytest.param(b" " * (MAX_MANIFEST_SIZE + 1), "more than the 4194304 bytes", id="over-4MiB"),
]


@pytest.mark.parametrize(("body", "words"), BAD)
def test_refused(body: bytes, words: str) -> None:
    with pytest.raises(InvalidManifest) as info:
        descriptor.parse(body)
    assert words in info.value.message
    assert info.value.exit_code == 1


@pytest.mark.parametrize(
    ("doc", "declared", "words"),
    [
        (_index(), mediatypes.OCI_MANIFEST, "expected a manifest"),
        (_manifest(mediaType=...), mediatypes.DOCKER_MANIFEST_LIST, "expected an index"),
        (_manifest(), mediatypes.OCI_INDEX, "expected an index"),
        (_manifest(), mediatypes.DOCKER_SCHEMA1_SIGNED_MANIFEST, "schema 1"),
        (_manifest(mediaType=..., config=...), mediatypes.OCI_MANIFEST, "has no config"),
    ],
)
def test_refused_against_declared_type(doc: dict[str, Any], declared: str, words: str) -> None:
    with pytest.raises(InvalidManifest, match=words):
        descriptor.parse(_body(doc), declared)


def test_body_of_exactly_the_limit_is_read() -> None:
    body = _body(_manifest())
    body += b" " * (MAX_MANIFEST_SIZE - len(body))
    assert isinstance(descriptor.parse(body), Manifest)


# --- fuzz ---------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)
FIELDS = ["schemaVersion", "mediaType", "config", "layers", "manifests", "annotations"]


def _mutations() -> st.SearchStrategy[bytes]:
    def mutate(base: Callable[..., dict[str, Any]]) -> st.SearchStrategy[bytes]:
        return st.builds(
            lambda key, value: _body({**base(), key: value}), st.sampled_from(FIELDS), JSON
        )

    layer_fields = st.sampled_from(["mediaType", "digest", "size", "platform", "urls"])
    broken_layer = st.builds(lambda k, v: _with_layer(**{k: v}), layer_fields, JSON)
    return mutate(_manifest) | mutate(_index) | broken_layer


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=200) | st.builds(_body, JSON) | _mutations(),
    declared=st.none()
    | st.sampled_from(sorted(mediatypes.INDEX_TYPES | mediatypes.MANIFEST_TYPES)),
)
def test_fuzz_parse_raises_only_ctrpy_errors(body: bytes, declared: str | None) -> None:
    try:
        result = descriptor.parse(body, declared)
    except CtrpyError as exc:
        assert "\n" not in exc.message  # one line, whatever the registry sent
        return
    assert isinstance(result, Manifest | Index)
