"""ctrpy.oci.reference against every case of distribution/reference's vectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrpy.errors import InvalidReference, UsageError
from ctrpy.oci import reference
from ctrpy.oci.digest import Digest
from ctrpy.oci.reference import Reference

VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent.parent / "data" / "reference_normalize.json").read_text()
)
VALID = [c for c in VECTORS if c["valid"]]
INVALID = [c for c in VECTORS if not c["valid"]]

#: Each upstream error class, and words our message must carry for it.
ERROR_WORDS = {
    "invalid_format": "invalid reference format",
    "uppercase": "must be lowercase",
    "name_too_long": "must not be more than 255 characters",
    "hex_identifier_64": "64-byte hexadecimal",
    "digest_invalid_length": "invalid checksum digest length",
    "digest_invalid_format": "invalid checksum digest format",
    "digest_unsupported_algorithm": "unsupported digest algorithm",
}


def _id(text: str) -> str:
    shown = text if len(text) <= 60 else f"{text[:40]}...({len(text)} chars)"
    return repr(shown)


def test_vectors_are_all_there() -> None:
    assert (len(VECTORS), len(VALID), len(INVALID)) == (311, 212, 99)


@pytest.mark.parametrize("case", VALID, ids=[_id(c["input"]) for c in VALID])
def test_valid(case: dict[str, Any]) -> None:
    ref = reference.parse(case["input"])
    got = {
        "domain": ref.domain,
        "path": ref.path,
        "tag": ref.tag,
        "digest": None if ref.digest is None else str(ref.digest),
        "full": str(ref),
        "familiar": ref.familiar,
        "name": ref.name,
        "familiar_name": ref.familiar_name,
        # ParseDockerRef: digest wins over tag, latest when neither.
        "docker_ref": f"{ref.name}@{ref.object}" if ref.digest else f"{ref.name}:{ref.object}",
    }
    assert got == {k: case[k] for k in got}
    # The fully qualified form parses back to the same value.
    assert reference.parse(str(ref)) == ref


@pytest.mark.parametrize("case", INVALID, ids=[_id(c["input"]) for c in INVALID])
def test_invalid(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidReference) as info:
        reference.parse(case["input"])
    assert ERROR_WORDS[case["error"]] in info.value.message
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "tagged"),
    [
        ("alpine", "docker.io/library/alpine:latest"),
        ("alpine:3.19", "docker.io/library/alpine:3.19"),
        ("ghcr.io/a/b@sha256:" + "a" * 64, "ghcr.io/a/b@sha256:" + "a" * 64),
    ],
)
def test_with_default_tag(text: str, tagged: str) -> None:
    assert str(reference.parse(text).with_default_tag()) == tagged


@pytest.mark.parametrize(
    ("text", "obj"),
    [
        ("alpine", "latest"),
        ("alpine:edge", "edge"),
        ("alpine:edge@sha256:" + "b" * 64, "sha256:" + "b" * 64),
        ("127.0.0.1:5000/app@sha512:" + "c" * 128, "sha512:" + "c" * 128),
    ],
)
def test_object_is_what_the_manifest_url_names(text: str, obj: str) -> None:
    assert reference.parse(text).object == obj


def test_digest_is_a_digest_value() -> None:
    ref = reference.parse("localhost:5000/x@sha384:" + "d" * 96)
    assert ref == Reference("localhost:5000", "x", None, Digest("sha384", "d" * 96))


def test_errors_are_value_and_usage_errors() -> None:
    with pytest.raises(ValueError, match="invalid reference"):
        reference.parse("UPPER")
    assert issubclass(InvalidReference, UsageError)


def test_long_input_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidReference) as info:
        reference.parse("a" * 5000 + "!")
    assert len(info.value.message) < 400


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=80),
        st.text(alphabet="abcAB09._-:/@[]%", max_size=80),
        st.from_regex(
            r"[a-z0-9.:/_-]{1,40}(:[A-Za-z0-9_.-]{1,10})?(@sha256:[0-9a-f]{64})?", fullmatch=True
        ),
    )
)
def test_fuzz_parse_raises_only_invalid_reference(text: str) -> None:
    try:
        ref = reference.parse(text)
    except InvalidReference as exc:
        assert "\n" not in exc.message  # one line, whatever the input held
        return
    assert reference.parse(str(ref)) == ref
