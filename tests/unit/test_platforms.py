"""ctrpy.oci.platforms against every table of containerd/platforms' vectors.

Host-dependent answers in the vectors assume a linux/amd64 host; the tests pass
that host explicitly, and check the host-defaulted fields again with another one.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrpy.errors import InvalidPlatform, UsageError
from ctrpy.oci import mediatypes, platforms
from ctrpy.oci.descriptor import Descriptor, Platform
from ctrpy.oci.digest import Digest
from ctrpy.oci.platforms import Matcher

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "data" / "platforms.json").read_text()
)


def _platform(d: dict[str, Any]) -> Platform:
    return Platform(
        os=d["os"],
        architecture=d["architecture"],
        variant=d.get("variant") or None,
        os_version=d.get("os_version") or None,
        os_features=tuple(d.get("os_features") or ()),
    )


HOST = _platform(VECTORS["assumed_host"])
#: A host unlike the vectors' one, to see which fields really come from the host.
OTHER_HOST = Platform("plan9", "arm", "v6")

PARSE_OK = [c for c in VECTORS["parse"] if c["valid"]]
PARSE_BAD = [c for c in VECTORS["parse"] if not c["valid"]]
MODES = {"only": "only", "only_strict": "strict", "only_os": "os", "new_matcher": "strict"}
# With a single wanted platform, containerd's Ordered(p) and Any(p) order like OnlyStrict(p).
ORDER_MODES = {"only": "only", "only_strict": "strict", "ordered": "strict", "any": "strict"}


def _p(spec: str) -> Platform:
    return platforms.parse(spec, host=HOST)


def _desc(p: Platform | None, n: int = 0) -> Descriptor:
    digest = Digest.of(f"{p}{n}".encode())
    return Descriptor(mediatypes.OCI_MANIFEST, digest, 100, platform=p)


# --- parse / normalize ---------------------------------------------------------------------


def test_assumed_host() -> None:
    assert Platform("linux", "amd64") == HOST


@pytest.mark.parametrize("case", PARSE_OK, ids=[repr(c["input"]) for c in PARSE_OK])
def test_parse(case: dict[str, Any]) -> None:
    p = platforms.parse(case["input"], host=HOST)
    assert p == _platform(case["expected"])
    assert str(p) == case["format"]
    assert platforms.format_all(p) == case["format_all"]
    for other in case.get("must_match") or ():
        assert Matcher(p, "strict").match(_platform(other))


@pytest.mark.parametrize("case", PARSE_OK, ids=[repr(c["input"]) for c in PARSE_OK])
def test_parse_takes_missing_parts_from_the_host(case: dict[str, Any]) -> None:
    p = platforms.parse(case["input"], host=OTHER_HOST)
    expected = _platform(case["expected"])
    defaulted = set(case["host_defaulted"])
    assert p.os == (OTHER_HOST.os if "os" in defaulted else expected.os)
    if "architecture" in defaulted:
        assert (p.architecture, p.variant) == (OTHER_HOST.architecture, OTHER_HOST.variant)
    else:
        assert (p.architecture, p.variant) == (expected.architecture, expected.variant)
    assert (p.os_version, p.os_features) == (expected.os_version, expected.os_features)


@pytest.mark.parametrize("case", PARSE_BAD, ids=[repr(c["input"]) for c in PARSE_BAD])
def test_parse_invalid(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidPlatform) as info:
        platforms.parse(case["input"], host=HOST)
    assert repr(case["input"]) in info.value.message  # the message names the specifier
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("", "empty OS"),
        ("linux//amd64", "empty component"),
        ("linux/&arm", "'&arm' is not a valid component"),
        ("linux/*", "wildcards"),
        ("foo", "unknown operating system or architecture 'foo'"),
        ("linux/arm/v7/extra", "too many components"),
        ("windows(10%zz)", "invalid %-escape"),
    ],
)
def test_parse_says_what_is_wrong(spec: str, why: str) -> None:
    with pytest.raises(InvalidPlatform, match="invalid platform") as info:
        platforms.parse(spec, host=HOST)
    assert why in info.value.message
    assert info.value.hint
    assert isinstance(info.value, ValueError) and isinstance(info.value, UsageError)


NORMALIZE = VECTORS["normalize"]


@pytest.mark.parametrize(
    "case", NORMALIZE, ids=[platforms.format_all(_platform(c["input"])) for c in NORMALIZE]
)
def test_normalize(case: dict[str, Any]) -> None:
    assert platforms.normalize(_platform(case["input"]), host=HOST) == _platform(case["expected"])


def test_normalize_sorts_and_dedups_features() -> None:
    p = Platform("linux", "amd64", os_features=("b", "a", "b"))
    assert platforms.normalize(p).os_features == ("a", "b")


# --- matching --------------------------------------------------------------------------------


def _match_cases() -> list[Any]:
    rows: list[tuple[str, Platform | str, Platform | str, bool]] = []
    for table in VECTORS["match"]:
        mode = MODES[table["matcher"]]
        if "host" in table:
            rows += [(mode, table["host"], c, True) for c in table["matches"]]
            rows += [(mode, table["host"], c, False) for c in table["does_not_match"]]
        else:
            want, candidate = (
                _platform(table["host_platform"]),
                _platform(table["candidate_platform"]),
            )
            rows.append((mode, want, candidate, table["match"]))
    return [
        pytest.param(
            *row,
            id=f"{row[0]}:{platforms.format_all(_as_platform(row[1]))}"
            f"-runs-{platforms.format_all(_as_platform(row[2]))}={row[3]}",
        )
        for row in rows
    ]


def _as_platform(p: Platform | str) -> Platform:
    return p if isinstance(p, Platform) else _p(p)


@pytest.mark.parametrize(("mode", "want", "candidate", "expected"), _match_cases())
def test_match(mode: Any, want: Platform | str, candidate: Platform | str, expected: bool) -> None:
    assert Matcher(_as_platform(want), mode).match(_as_platform(candidate)) is expected
    if mode == "only":
        assert platforms.matches(_as_platform(want), _as_platform(candidate)) is expected


def _order_cases() -> list[Any]:
    out = []
    for i, table in enumerate(VECTORS["order"]):
        comparers = table["comparer"]
        if isinstance(comparers, str) and comparers.startswith("windows_match_comparer"):
            want = _platform(table["host_platform"])
            given = [_platform(p) for p in table["input_platforms"]]
            expected = [_platform(p) for p in table["expected_order_platforms"]]
            out.append(pytest.param("only", want, given, expected, table, id=f"{i}-windows"))
            continue
        for comparer in [comparers] if isinstance(comparers, str) else comparers:
            mode = "os" if comparer == "only_os" else ORDER_MODES[comparer]
            want = _p(table["host"])
            given = [_p(s) for s in table["input"]]
            expected = [_p(s) for s in table["expected_order"]]
            out.append(
                pytest.param(
                    mode, want, given, expected, table, id=f"{i}-{comparer}-{table['host']}"
                )
            )
    return out


@pytest.mark.parametrize(("mode", "want", "given", "expected", "table"), _order_cases())
def test_order(
    mode: Any,
    want: Platform,
    given: list[Platform],
    expected: list[Platform],
    table: dict[str, Any],
) -> None:
    assert Matcher(want, mode).sort(given) == expected
    chosen = [d.platform for d in platforms.best_first(want, [_desc(p) for p in given], mode=mode)]
    assert chosen == [p for p in expected if Matcher(want, mode).match(p)]
    if "expected_matching" in table:
        assert sorted(map(str, chosen)) == sorted(table["expected_matching"])
        assert str(chosen[0]) == table["best_match"]


# --- host and CPU variant ------------------------------------------------------------------

CPU = VECTORS["cpu_variant_from_cpuinfo"]


@pytest.mark.parametrize("case", CPU, ids=[c["cpu_architecture_field"] for c in CPU])
def test_cpu_variant(case: dict[str, Any]) -> None:
    if case["error"]:
        with pytest.raises(InvalidPlatform):
            platforms.cpu_variant(case["cpu_architecture_field"])
    else:
        assert (
            platforms.cpu_variant(case["cpu_architecture_field"]) == case["expected_variant_number"]
        )


@pytest.mark.parametrize(
    ("machine", "system", "expected"),
    [
        ("x86_64", "Linux", Platform("linux", "amd64")),
        ("AMD64", "Windows", Platform("windows", "amd64")),
        ("aarch64", "Linux", Platform("linux", "arm64", "v8")),
        ("arm64", "Darwin", Platform("darwin", "arm64", "v8")),
        ("armv7l", "Linux", Platform("linux", "arm", "v7")),
        ("armv6l", "Linux", Platform("linux", "arm", "v6")),
        ("armv5tel", "Linux", Platform("linux", "arm", "v5")),
        ("i686", "Linux", Platform("linux", "386")),
        ("ppc64le", "Linux", Platform("linux", "ppc64le")),
        ("s390x", "Linux", Platform("linux", "s390x")),
        ("riscv64", "Linux", Platform("linux", "riscv64")),
        ("loongarch64", "Linux", Platform("linux", "loong64")),
    ],
)
def test_host(machine: str, system: str, expected: Platform) -> None:
    assert platforms.host(machine, system) == expected


def test_host_of_this_machine_runs_itself() -> None:
    here = platforms.host()
    assert here.os and here.architecture
    assert platforms.matches(here, here)
    assert platforms.parse(str(here), host=here) == here


@pytest.mark.parametrize(
    ("spec", "host", "expected"),
    [
        ("linux", Platform("linux", "arm64", "v8"), Platform("linux", "arm64")),
        ("linux", Platform("linux", "arm", "v7"), Platform("linux", "arm")),
        ("linux", Platform("linux", "arm", "v6"), Platform("linux", "arm", "v6")),
        ("arm64", Platform("darwin", "arm64", "v8"), Platform("darwin", "arm64")),
    ],
)
def test_one_word_specifiers_follow_the_host(spec: str, host: Platform, expected: Platform) -> None:
    assert platforms.parse(spec, host=host) == expected


# --- picking from an index ------------------------------------------------------------------

HELLO_WORLD = [
    Platform("linux", "amd64"),
    Platform("linux", "arm", "v5"),
    Platform("linux", "arm", "v7"),
    Platform("linux", "arm64", "v8"),
    Platform("linux", "386"),
    Platform("windows", "amd64", os_version="10.0.20348.2227"),
    Platform("windows", "amd64", os_version="10.0.17763.5329"),
    Platform("unknown", "unknown"),  # BuildKit attestation manifest
]


@pytest.mark.parametrize(
    ("want", "picked"),
    [
        ("linux/amd64", ["linux/amd64", "linux/386"]),
        ("linux/arm64", ["linux/arm64/v8", "linux/arm/v7", "linux/arm/v5"]),
        ("linux/arm64/v8", ["linux/arm64/v8", "linux/arm/v7", "linux/arm/v5"]),
        ("linux/arm/v6", ["linux/arm/v5"]),
        ("linux/386", ["linux/386"]),
        ("linux/s390x", []),
        ("windows/amd64", ["windows/amd64", "windows/amd64"]),
    ],
)
def test_best_first(want: str, picked: list[str]) -> None:
    index = [_desc(p) for p in HELLO_WORLD] + [_desc(None)]
    assert [str(d.platform) for d in platforms.best_first(_p(want), index)] == picked


def test_best_first_windows_build() -> None:
    index = [_desc(p) for p in HELLO_WORLD]
    chosen = platforms.best_first(_p("windows(10.0.17763)/amd64"), index)
    assert [d.platform for d in chosen] == [HELLO_WORLD[6]]


def test_best_first_keeps_index_order_among_equals() -> None:
    index = [_desc(Platform("linux", "amd64"), n) for n in range(3)]
    assert platforms.best_first(HOST, index) == index


def test_best_first_normalizes_index_entries() -> None:
    index = [_desc(Platform("linux", "x86_64")), _desc(Platform("Linux", "aarch64", "8"))]
    assert platforms.best_first(_p("linux/arm64"), index) == [index[1]]
    assert platforms.best_first(HOST, index) == [index[0]]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40) | st.text(alphabet="linuxwdosamd64arm/v78()+%._-LXbz", max_size=40))
def test_fuzz_parse_raises_only_invalid_platform(spec: str) -> None:
    try:
        p = platforms.parse(spec, host=HOST)
    except InvalidPlatform as exc:
        assert "\n" not in exc.message
        return
    assert Matcher(p, "strict").match(p)
    # FormatAll sorts the OS features; otherwise the text reads back as the same platform.
    again = platforms.parse(platforms.format_all(p), host=HOST)
    assert again == replace(p, os_features=tuple(sorted(p.os_features)))
