"""ctrpy.oci.mediatypes (and the document-type check) against media_types.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ctrpy.errors import InvalidManifest
from ctrpy.oci import descriptor, mediatypes

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "data" / "media_types.json").read_text()
)
TYPES = VECTORS["media_types"]
TYPE_IDS = [t["media_type"].removeprefix("application/") for t in TYPES]


def test_vectors_are_all_there() -> None:
    assert len(TYPES) == 27


@pytest.mark.parametrize("case", TYPES, ids=TYPE_IDS)
def test_kind_is_containerds(case: dict[str, Any]) -> None:
    expected = case["containerd_classification"]["kind"] or "unknown"
    assert mediatypes.kind(case["media_type"]) == expected


@pytest.mark.parametrize("case", TYPES, ids=TYPE_IDS)
def test_kind_ignores_parameters(case: dict[str, Any]) -> None:
    mt = case["media_type"]
    assert mediatypes.kind(mt + "; charset=utf-8") == mediatypes.kind(mt)


@pytest.mark.parametrize("case", TYPES, ids=TYPE_IDS)
def test_compression(case: dict[str, Any]) -> None:
    assert (
        mediatypes.compression(case["media_type"])
        == case["containerd_classification"]["diff_compression"]
    )


@pytest.mark.parametrize("case", TYPES, ids=TYPE_IDS)
def test_nondistributable(case: dict[str, Any]) -> None:
    expected = case["containerd_classification"]["nondistributable"]
    assert mediatypes.is_nondistributable(case["media_type"]) is expected


@pytest.mark.parametrize("case", TYPES, ids=TYPE_IDS)
def test_supported_is_must_accept(case: dict[str, Any]) -> None:
    assert mediatypes.is_supported(case["media_type"]) is case["must_accept"]


@pytest.mark.parametrize("case", TYPES, ids=TYPE_IDS)
def test_schema1(case: dict[str, Any]) -> None:
    assert mediatypes.is_schema1(case["media_type"]) is (case["kind"] == "manifest-schema1")


@pytest.mark.parametrize("case", TYPES, ids=TYPE_IDS)
def test_every_type_has_a_constant_and_valid_syntax(case: dict[str, Any]) -> None:
    constants = {v for k, v in vars(mediatypes).items() if k.isupper() and isinstance(v, str)}
    assert case["media_type"] in constants
    assert mediatypes.is_valid(case["media_type"])


PAIRS = VECTORS["equivalent_pairs"]


@pytest.mark.parametrize("pair", PAIRS, ids=[p["kind"] for p in PAIRS])
def test_equivalent_pairs(pair: dict[str, Any]) -> None:
    assert mediatypes.kind(pair["oci"]) == mediatypes.kind(pair["docker"]) == pair["kind"]


def test_manifest_accept_header() -> None:
    assert VECTORS["manifest_accept_header"]["value"] == mediatypes.MANIFEST_ACCEPT


BASES = VECTORS["content_type_base"]["cases"]


@pytest.mark.parametrize("case", BASES, ids=[c["content_type"] for c in BASES])
def test_base(case: dict[str, Any]) -> None:
    assert mediatypes.base(case["content_type"]) == case["base"]


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("Application/VND.OCI.Image.Index.v1+JSON", mediatypes.OCI_INDEX),
        ("  application/json ; q=1", "application/json"),
        ("", ""),
    ],
)
def test_base_more(content_type: str, expected: str) -> None:
    assert mediatypes.base(content_type) == expected


SYNTAX = VECTORS["media_type_syntax"]["cases"]


@pytest.mark.parametrize("case", SYNTAX, ids=[repr(c["media_type"][:60]) for c in SYNTAX])
def test_syntax(case: dict[str, Any]) -> None:
    assert mediatypes.is_valid(case["media_type"]) is case["valid"]


DOCS = VECTORS["manifest_document_validation"]["cases"]


def _doc_id(case: dict[str, Any]) -> str:
    declared = case["declared_media_type"].removeprefix("application/vnd.") or "none"
    return f"{declared}<-{json.dumps(case['document'], sort_keys=True)}"


@pytest.mark.parametrize("case", DOCS, ids=[_doc_id(c) for c in DOCS])
def test_document_type(case: dict[str, Any]) -> None:
    declared = case["declared_media_type"] or None
    if case["valid"]:
        descriptor.check_document_type(case["document"], declared)
        return
    with pytest.raises(InvalidManifest):
        descriptor.check_document_type(case["document"], declared)
    # parse() makes the same check on the raw body.
    with pytest.raises(InvalidManifest, match=r"expected an? |schema 1"):
        descriptor.parse(json.dumps({"schemaVersion": 2, **case["document"]}).encode(), declared)
