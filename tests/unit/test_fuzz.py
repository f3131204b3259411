"""Property-based fuzzing of the parsers that read untrusted text (issue 8).

Whatever the input, each parser either returns a value or raises one of ctrpy's own
errors (a :class:`~ctrpy.errors.CtrpyError`); nothing else may escape.  Where a parser
promises more (a normalized reference round-trips, a well-formed challenge is read back
exactly, a parsed descriptor has a valid digest and a sane size) that is checked too.

The hosts.toml reader is fuzzed in tests/unit/test_hosts.py, and random bytes / random JSON
through ``descriptor.parse`` in tests/unit/test_descriptor.py; this file adds what those do
not cover: references shaped like the grammar with one-line messages and the familiar round
trip, well-formed challenges read back exactly, and manifests mutated deep inside (descriptor
fields) with invariants on what parses.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ctrpy.errors import CtrpyError, InvalidManifest, InvalidReference
from ctrpy.oci import descriptor, mediatypes, reference
from ctrpy.oci.descriptor import MAX_BLOB_SIZE, MAX_MANIFEST_SIZE, Index, Manifest
from ctrpy.oci.digest import ALGORITHMS
from ctrpy.registry.auth import Challenge, parse_challenges

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- references --------------------------------------------------------------------------

_HEX64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)

_domains = st.one_of(
    st.none(),
    st.just("localhost"),
    st.just("docker.io"),
    st.just("index.docker.io"),
    st.from_regex(r"[a-zA-Z0-9.\-_]{1,12}(:[0-9a-z]{0,6})?", fullmatch=True),
    st.from_regex(r"\[[0-9a-fA-F:%a-z]{1,12}\](:[0-9]{1,5})?", fullmatch=True),
)
_components = st.lists(
    st.from_regex(r"[a-zA-Z0-9._\-]{0,10}", fullmatch=True), min_size=1, max_size=4
)
_tags = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_.\-~]{0,12}", fullmatch=True))
_digests = st.one_of(
    st.none(),
    _HEX64.map(lambda h: f"sha256:{h}"),
    st.builds(
        lambda alg, hx: f"{alg}:{hx}",
        st.sampled_from([*ALGORITHMS, "md5", "sha1", "SHA256", "sha256+b64", "x", ""]),
        st.text(alphabet="0123456789abcdefABCDEF./", min_size=0, max_size=130),
    ),
)


@st.composite
def reference_like(draw: st.DrawFn) -> str:
    """Strings close to the reference grammar, so that many parse and many just fail."""
    domain = draw(_domains)
    text = "/".join(draw(_components))
    if domain is not None:
        text = f"{domain}/{text}"
    tag = draw(_tags)
    if tag is not None:
        text += f":{tag}"
    digest = draw(_digests)
    if digest is not None:
        text += f"@{digest}"
    return text


def _parse_reference(text: str) -> reference.Reference | None:
    try:
        return reference.parse(text)
    except CtrpyError as exc:
        assert isinstance(exc, InvalidReference), type(exc)
        assert exc.exit_code == 2
        assert exc.message and "\n" not in exc.message
        return None


@FUZZ
@given(text=st.one_of(reference_like(), st.text(max_size=300)))
@example(text="a" * 10_000)
@example(text="localhost:99999999999999999999/x")
@example(text="[::1]:5000/x@sha256:" + "0" * 64)
@example(text="x@sha512:" + "a" * 128)
@example(text="\x00")
@example(text="foo:bar@sha256:" + "A" * 64)
def test_reference_parser(text: str) -> None:
    ref = _parse_reference(text)
    if ref is None:
        return
    # A normalized reference reads back as itself, in full and in familiar form.
    assert reference.parse(str(ref)) == ref
    assert reference.parse(ref.familiar) == ref
    assert ref.domain and ref.path
    assert ref.object == (str(ref.digest) if ref.digest else ref.tag or "latest")
    assert "/manifests/" not in ref.object and ".." not in ref.object


# --- WWW-Authenticate ----------------------------------------------------------------------

_TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_tokens = st.text(alphabet=_TOKEN_CHARS, min_size=1, max_size=12)
_quotable = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=40,
)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def well_formed_challenges(draw: st.DrawFn) -> tuple[str, list[Challenge]]:
    """A header value and the challenges it holds (RFC 7235, every value quoted)."""
    challenges: list[Challenge] = []
    parts: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        scheme = draw(_tokens)
        names = draw(st.lists(_tokens.map(str.lower), min_size=1, max_size=5, unique=True))
        params = {name: draw(_quotable) for name in names}
        spaces = draw(st.sampled_from(["", " ", "  "]))
        rendered = ", ".join(f"{name}{spaces}={spaces}{_quote(v)}" for name, v in params.items())
        # Vary the case of names: parameters are case-insensitive.
        if draw(st.booleans()):
            rendered = ", ".join(f"{name.upper()}={_quote(v)}" for name, v in params.items())
        parts.append(f"{scheme} {rendered}")
        challenges.append(Challenge(scheme.lower(), params))
    return ", ".join(parts), challenges


def _parse_challenges(header: str) -> list[Challenge] | None:
    try:
        result = parse_challenges(header)
    except CtrpyError:
        return None
    assert isinstance(result, list)
    for challenge in result:
        assert isinstance(challenge, Challenge)
        assert challenge.scheme and challenge.scheme == challenge.scheme.lower()
        assert all(k == k.lower() for k in challenge.params)
    return result


@FUZZ
@given(header=st.one_of(st.text(max_size=300), st.text(alphabet=' ,="\\=aB\t;/:', max_size=80)))
@example(header='Bearer realm="')
@example(header='Bearer realm="x\\')
@example(header="Bearer ,,,,, ,=,=")
@example(header="=" * 1000)
@example(header="Bearer " + "a=b," * 20_000)
@example(header='Bearer realm="' + "\\" * 50_001 + '"')
def test_challenge_parser_never_crashes(header: str) -> None:
    _parse_challenges(header)


@FUZZ
@given(case=well_formed_challenges())
def test_challenge_parser_reads_well_formed_headers_exactly(
    case: tuple[str, list[Challenge]],
) -> None:
    header, expected = case
    got = _parse_challenges(header)
    assert got is not None
    assert [(c.scheme, dict(c.params)) for c in got] == [
        (c.scheme, dict(c.params)) for c in expected
    ]


# --- manifests and indexes -------------------------------------------------------------------

_MEDIA_TYPES = st.one_of(
    st.none(),
    st.sampled_from(
        [
            mediatypes.OCI_INDEX,
            mediatypes.OCI_MANIFEST,
            mediatypes.DOCKER_MANIFEST_LIST,
            mediatypes.DOCKER_MANIFEST,
            mediatypes.OCI_INDEX + "; charset=utf-8",
            "application/json",
            "text/html",
            "",
            "application/vnd.oci.image.config.v1+json",
        ]
    ),
    st.text(max_size=40),
)

_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def _descriptor(media_type: str, size: int = 2) -> dict[str, Any]:
    return {
        "mediaType": media_type,
        "digest": "sha256:" + hashlib.sha256(media_type.encode()).hexdigest(),
        "size": size,
    }


def _valid_documents() -> list[dict[str, Any]]:
    manifest = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": _descriptor("application/vnd.oci.image.config.v1+json"),
        "layers": [_descriptor("application/vnd.oci.image.layer.v1.tar+gzip")],
        "annotations": {"a": "b"},
    }
    entry = _descriptor(mediatypes.OCI_MANIFEST)
    entry["platform"] = {"os": "linux", "architecture": "amd64", "variant": "v8"}
    index = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": [entry]}
    return [manifest, index]


_FIELDS = [
    (),
    ("schemaVersion",),
    ("mediaType",),
    ("config",),
    ("config", "digest"),
    ("config", "size"),
    ("config", "mediaType"),
    ("layers",),
    ("layers", 0),
    ("layers", 0, "digest"),
    ("layers", 0, "size"),
    ("layers", 0, "urls"),
    ("annotations",),
    ("manifests",),
    ("manifests", 0),
    ("manifests", 0, "platform"),
    ("manifests", 0, "platform", "os"),
    ("manifests", 0, "platform", "os.features"),
    ("manifests", 0, "digest"),
    ("manifests", 0, "size"),
]

_hostile_values = st.one_of(
    _json_values,
    st.sampled_from(
        [
            -1,
            2**63,
            MAX_BLOB_SIZE + 1,
            True,
            1.5,
            "sha256:../../etc/passwd",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "sha256:" + "A" * 64,
            "sha256:" + "a" * 63,
            "../../etc/passwd",
            [],
            {},
            None,
        ]
    ),
).map(lambda v: json.loads(json.dumps(v)))  # a fresh copy: mutations never share objects


@st.composite
def mutated_documents(draw: st.DrawFn) -> bytes:
    """A valid manifest or index with one to three fields replaced or deleted."""
    doc: Any = json.loads(json.dumps(draw(st.sampled_from(_valid_documents()))))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_FIELDS))
        parent: Any = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
        except (KeyError, IndexError, TypeError):
            continue
        if not path:
            doc = draw(_hostile_values)
            continue
        last: Any = path[-1]
        if not isinstance(parent, dict | list):
            continue
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(last, None)
        else:
            try:
                parent[last] = draw(_hostile_values)
            except (IndexError, TypeError):
                continue
    return json.dumps(doc).encode()


def _check_parse(body: bytes, media_type: str | None) -> None:
    try:
        result = descriptor.parse(body, media_type)
    except CtrpyError as exc:
        assert isinstance(exc, InvalidManifest), type(exc)
        assert exc.message
        return
    assert isinstance(result, Manifest | Index)
    descriptors = result.manifests if isinstance(result, Index) else (result.config, *result.layers)
    for desc in descriptors:
        assert str(desc.digest).split(":")[0] in ALGORITHMS
        assert "/" not in desc.digest.hex and "." not in desc.digest.hex
        assert 0 <= desc.size <= MAX_BLOB_SIZE
        assert mediatypes.is_valid(desc.media_type)


@pytest.mark.parametrize(
    ("body", "media_type"),
    [
        (b"[" * 100_000, None),
        (b'{"schemaVersion": 2, "manifests": ' + b"[" * 50_000, None),
        (b"\xff\xfe{}", mediatypes.OCI_MANIFEST),
        (b'{"schemaVersion": 2e0}', None),
        (b'{"schemaVersion": 2, "layers": 1e999}', None),
        (b'{"schemaVersion": 2, "config": {"size": 1e999}}', mediatypes.OCI_MANIFEST),
        (b'{"schemaVersion": 2, "manifests": [], "manifests": {}}', None),
        (b" " * (MAX_MANIFEST_SIZE + 1), None),
    ],
    ids=[
        "deep-array",
        "deep-index",
        "utf16-bom",
        "float-version",
        "infinite-layers",
        "infinite-size",
        "duplicate-key",
        "over-limit",
    ],
)
def test_manifest_parser_on_nasty_bodies(body: bytes, media_type: str | None) -> None:
    _check_parse(body, media_type)


@FUZZ
@given(body=mutated_documents(), media_type=_MEDIA_TYPES)
def test_manifest_parser_on_mutated_documents(body: bytes, media_type: str | None) -> None:
    _check_parse(body, media_type)


def test_manifest_parser_accepts_the_unmutated_documents() -> None:
    """The seeds of the mutation fuzzer are valid, so mutations start from a parse."""
    for doc in _valid_documents():
        assert isinstance(descriptor.parse(json.dumps(doc).encode(), None), Manifest | Index)
