"""Which index entries a pull takes, and the error when none fits (pure: no registry)."""

from __future__ import annotations

import pytest

from ctrpy.errors import PlatformNotFound
from ctrpy.oci import mediatypes, platforms
from ctrpy.oci.descriptor import Descriptor, Index, Platform
from ctrpy.oci.digest import Digest
from ctrpy.pull import choose


def entry(spec: str, n: int, os_version: str | None = None, **annotations: str) -> Descriptor:
    os_, arch, *variant = spec.split("/")
    platform = Platform(os_, arch, variant[0] if variant else None, os_version)
    return Descriptor(
        mediatypes.OCI_MANIFEST,
        Digest("sha256", f"{n:064x}"),
        500 + n,
        platform=platform,
        annotations=annotations,
    )


ATTESTATION = entry("unknown/unknown", 9, **{"vnd.docker.reference.type": "attestation-manifest"})
HELLO = Index(
    mediatypes.OCI_INDEX,
    (entry("linux/amd64", 1), entry("linux/arm64/v8", 2), entry("linux/arm/v7", 3), ATTESTATION),
)
WINDOWS = Index(mediatypes.OCI_INDEX, (entry("windows/amd64", 4, "10.0.20348.2340"),))


@pytest.mark.parametrize(
    ("wanted", "all_platforms", "expected"),
    [
        (["linux/amd64"], False, [1]),
        (["linux/arm64"], False, [2]),
        (["linux/arm/v7"], False, [3]),
        (["linux/arm64/v8", "linux/amd64"], False, [2, 1]),
        (["linux/amd64", "linux/amd64"], False, [1]),
        ([], True, [1, 2, 3, 9]),
    ],
    ids=["amd64", "arm64-normalized", "armv7", "two-in-order", "deduplicated", "all"],
)
def test_choose(wanted: list[str], all_platforms: bool, expected: list[int]) -> None:
    got = choose(
        HELLO, [platforms.parse(w) for w in wanted], all_platforms=all_platforms, where="x"
    )
    assert [int(d.digest.hex, 16) for d in got] == expected


def test_attestations_are_never_chosen_for_a_platform() -> None:
    only_attestation = Index(mediatypes.OCI_INDEX, (ATTESTATION,))
    with pytest.raises(PlatformNotFound) as caught:
        choose(only_attestation, [Platform("unknown", "unknown")], all_platforms=False, where="x")
    assert caught.value.hint == "use --all-platforms"
    assert ATTESTATION.is_attestation and not HELLO.manifests[0].is_attestation


def test_no_match_names_the_wanted_platform_and_lists_the_index() -> None:
    with pytest.raises(PlatformNotFound) as caught:
        choose(WINDOWS, [platforms.parse("linux/amd64")], all_platforms=False, where="ref")
    assert caught.value.message == (
        "ref: no manifest for platform linux/amd64; "
        "the index has: windows/amd64 (os.version 10.0.20348.2340)"
    )
    assert caught.value.hint == (
        "pick one of them with --platform windows/amd64, or use --all-platforms"
    )
    assert caught.value.exit_code == 3
