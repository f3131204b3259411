"""ctrpy.oci.digest: strict digest values and the streaming verifier."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctrpy.errors import IntegrityError, InvalidDigest
from ctrpy.oci.digest import Digest, Verifier, verify_bytes

HEX64 = "a" * 64
DATA = b"hello, registry"


@pytest.mark.parametrize(
    ("text", "algorithm"),
    [
        ("sha256:" + HEX64, "sha256"),
        ("sha384:" + "b" * 96, "sha384"),
        ("sha512:" + "c" * 128, "sha512"),
        ("sha256:" + "0123456789abcdef" * 4, "sha256"),
    ],
)
def test_parse(text: str, algorithm: str) -> None:
    d = Digest.parse(text)
    assert (d.algorithm, str(d), d.encoded, d.short) == (algorithm, text, d.hex, d.hex[:12])


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "expected <algorithm>:<hex>"),
        (HEX64, "expected <algorithm>:<hex>"),
        ("sha256:", "exactly 64"),
        (":" + HEX64, "unsupported algorithm"),
        ("md5:" + "a" * 32, "unsupported algorithm 'md5'"),
        ("SHA256:" + HEX64, "unsupported algorithm"),
        ("sha256:" + "A" * 64, "lowercase hex"),
        ("sha256:" + "a" * 63, "exactly 64"),
        ("sha256:" + "a" * 65, "exactly 64"),
        ("sha512:" + HEX64, "exactly 128"),
        ("sha256:../../etc/passwd", "exactly 64"),
        ("sha256:" + "a" * 62 + "/x", "exactly 64"),
        ("sha256:" + HEX64 + "\n", "exactly 64"),
        ("sha256:" + "a" * 63 + "\n", "lowercase hex"),
        ("sha256:" + "٣" * 64, "lowercase hex"),  # non-ASCII digits
        ("sha256:" + HEX64 + ":" + HEX64, "exactly 64"),
    ],
)
def test_parse_refuses(text: str, words: str) -> None:
    with pytest.raises(InvalidDigest) as info:
        Digest.parse(text)
    assert words in info.value.message
    assert info.value.exit_code == 2
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("value", [None, 5, b"sha256:" + HEX64.encode()])
def test_parse_refuses_non_strings(value: object) -> None:
    with pytest.raises(InvalidDigest):
        Digest.parse(value)  # type: ignore[arg-type]


def test_constructor_validates_too() -> None:
    with pytest.raises(InvalidDigest):
        Digest("sha256", "../x")
    with pytest.raises(InvalidDigest):
        Digest(["sha256"], HEX64)  # type: ignore[arg-type]


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512"])
def test_of_and_hasher(algorithm: str) -> None:
    d = Digest.of(DATA, algorithm)
    assert d.hex == hashlib.new(algorithm, DATA).hexdigest()
    h = d.hasher()
    h.update(DATA)
    assert h.hexdigest() == d.hex


def test_values_compare_hash_and_sort() -> None:
    a, b = Digest("sha256", "a" * 64), Digest("sha256", "b" * 64)
    assert a == Digest.parse(str(a))
    assert len({a, b, Digest.parse(str(a))}) == 2
    assert sorted([b, a]) == [a, b]


@pytest.mark.parametrize(
    "chunks", [[DATA], [DATA[:3], b"", DATA[3:]], [memoryview(DATA), bytearray()]]
)
def test_verifier_accepts(chunks: list[bytes]) -> None:
    v = Verifier(Digest.of(DATA), len(DATA))
    for chunk in chunks:
        v.update(chunk)
    v.verify("layer")
    assert (v.size, v.digest()) == (len(DATA), Digest.of(DATA))


@pytest.mark.parametrize(
    ("data", "size", "words"),
    [
        (DATA + b"!", len(DATA), "size mismatch: expected 15 bytes, got 16"),
        (DATA[:-1], len(DATA), "size mismatch"),
        (DATA.upper(), len(DATA), "digest mismatch"),
        (DATA.upper(), None, "digest mismatch"),
    ],
)
def test_verifier_refuses(data: bytes, size: int | None, words: str) -> None:
    v = Verifier(Digest.of(DATA), size)
    v.update(data)
    with pytest.raises(IntegrityError) as info:
        v.verify("layer")
    assert words in info.value.message
    assert info.value.exit_code == 5
    assert info.value.hint


def test_verify_bytes() -> None:
    verify_bytes(DATA, Digest.of(DATA), len(DATA))
    with pytest.raises(IntegrityError, match="manifest: digest mismatch"):
        verify_bytes(DATA, Digest.of(b"other"), what="manifest")


@given(st.text(max_size=140) | st.text(alphabet="sha256:0123456789abcdef./\n", max_size=140))
def test_fuzz_parse(text: str) -> None:
    try:
        d = Digest.parse(text)
    except InvalidDigest as exc:
        assert "\n" not in exc.message
        return
    assert str(d) == text
    assert "/" not in text and "." not in text
