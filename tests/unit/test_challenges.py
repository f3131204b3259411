"""WWW-Authenticate parsing against the 51 conformance cases in tests/data/www_authenticate.json.

- ``core``: the challenges must be exactly the expected ones (for ``compare: supported_only``,
  the Bearer/Basic challenges must be exactly the expected supported ones);
- ``robustness``: RFC 7235 behaviour, exactly as expected;
- ``malformed``: one of the acceptable results (a clean error would also do, but our parser
  never raises).

Every case with ``selected_scheme`` also checks which challenge a puller acts on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ctrpy.registry.auth import Challenge, parse_challenges
from ctrpy.registry.challenges import SUPPORTED_SCHEMES, parse_all, select

DATA = Path(__file__).resolve().parent.parent / "data" / "www_authenticate.json"
CASES: list[dict[str, Any]] = json.loads(DATA.read_text())["cases"]


def _plain(challenges: list[Challenge]) -> list[dict[str, Any]]:
    return [{"scheme": c.scheme, "params": dict(c.params)} for c in challenges]


def _supported(challenges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in challenges if c["scheme"] in SUPPORTED_SCHEMES]


def test_all_cases_are_present() -> None:
    assert len(CASES) == 51
    assert {c["tier"] for c in CASES} == {"core", "robustness", "malformed"}


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["tier"] in ("core", "robustness")], ids=lambda c: c["name"]
)
def test_well_formed(case: dict[str, Any]) -> None:
    got = _plain(parse_all(case["headers"]))
    if case["compare"] == "supported_only":
        assert _supported(got) == _supported(case["expected"])
    else:
        assert got == case["expected"]


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["tier"] == "malformed"], ids=lambda c: c["name"]
)
def test_malformed_gives_an_acceptable_result(case: dict[str, Any]) -> None:
    got = _plain(parse_all(case["headers"]))
    assert got in case["acceptable_results"]


@pytest.mark.parametrize(
    "case", [c for c in CASES if "selected_scheme" in c], ids=lambda c: c["name"]
)
def test_selected_scheme(case: dict[str, Any]) -> None:
    chosen = select(parse_all(case["headers"]))
    assert (chosen.scheme if chosen else None) == case["selected_scheme"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic dXNlcjpwYXNz==", Challenge("basic", {}, "dXNlcjpwYXNz==")),
        ("Negotiate abc/+_~.-", Challenge("negotiate", {}, "abc/+_~.-")),
    ],
    ids=["token68-padding", "token68-chars"],
)
def test_token68(header: str, expected: Challenge) -> None:
    assert parse_challenges(header) == [expected]


def test_param_lookup_is_case_insensitive_and_first_value_wins() -> None:
    (c,) = parse_challenges('Bearer Realm="https://a/token", realm="https://b/token"')
    assert c.get("REALM") == "https://a/token"
    assert c.realm == "https://a/token"


@pytest.mark.parametrize(
    "header",
    ['"', "\\", "=", ",,,", 'a b="', 'a b="\\', "a b=c d=e", "a\tb=c", "\x00", "a, ,b ,=,"],
    ids=repr,
)
def test_garbage_never_raises(header: str) -> None:
    assert isinstance(parse_challenges(header), list)
