"""Platform specifiers, normalization and matching, as containerd/platforms does them.

``parse("arm64")`` is this machine's OS on ``arm64``; ``x86_64``/``x86-64`` become
``amd64``, ``aarch64`` becomes ``arm64``, ``armhf`` is ``arm/v7``, ``armel`` is
``arm/v6``, ``i386`` is ``386`` and ``macos`` is ``darwin``.  :func:`matches` is
containerd's ``platforms.Only``: an amd64 host also runs 386 (and amd64/vN runs
every lower level), arm64 runs arm/v8 down to arm/v5, arm/v7 runs v7 to v5 --
never the other way round.  :func:`best_first` orders an index's manifests the
way containerd picks one.

Functions that depend on the host take it as an argument (``host=None`` means
this machine, see :func:`host`), so tests can pretend to be any machine.
"""

from __future__ import annotations

import platform as _platform
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from ctrpy.errors import InvalidPlatform, PlatformNotFound
from ctrpy.oci.descriptor import Descriptor, Platform

__all__ = [
    "Matcher",
    "Platform",
    "best_first",
    "cpu_variant",
    "format_all",
    "host",
    "matches",
    "normalize",
    "parse",
]

#: Operating systems Go knows (a one-word specifier is tried as an OS first).
KNOWN_OS = frozenset(
    [
        "aix",
        "android",
        "darwin",
        "dragonfly",
        "freebsd",
        "hurd",
        "illumos",
        "ios",
        "js",
        "linux",
        "nacl",
        "netbsd",
        "openbsd",
        "plan9",
        "solaris",
        "windows",
        "zos",
    ]
)
#: Architectures Go knows (a one-word specifier that is not an OS must be one of these).
KNOWN_ARCH = frozenset(
    [
        "386",
        "amd64",
        "amd64p32",
        "arm",
        "armbe",
        "arm64",
        "arm64be",
        "ppc64",
        "ppc64le",
        "loong64",
        "mips",
        "mipsle",
        "mips64",
        "mips64le",
        "mips64p32",
        "mips64p32le",
        "ppc",
        "riscv",
        "riscv64",
        "s390",
        "s390x",
        "sparc",
        "sparc64",
        "wasm",
    ]
)

_OS_RE = re.compile(r"([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.%-]*)((?:\+[A-Za-z0-9_.%-]+)*)\))?", re.A)
_PART_RE = re.compile(r"[A-Za-z0-9_.-]+", re.A)
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HINT = "use os[/arch[/variant]], e.g. linux/amd64, linux/arm64/v8 or windows/amd64"

#: Builds of Windows Server 2022 and later run containers of these LTSC builds (stable ABI).
_WINDOWS_COMPAT_LTSC = (20348,)

#: ``platform.machine()`` values that normalizeArch does not know, as Go's GOARCH.
_MACHINES = {
    "i486": "386",
    "i586": "386",
    "i686": "386",
    "x86": "386",
    "loongarch64": "loong64",
}


# --- parsing and normalization -------------------------------------------------------


def parse(spec: str, *, host: Platform | None = None) -> Platform:
    """Parse ``<os>[(<version>[+<feature>...])][/<arch>[/<variant>]]`` or a bare ``<arch>``.

    Like containerd's ``platforms.Parse``: the result is normalized, except that
    an explicit arm64 variant (``linux/arm64/v8``) is kept.  Missing parts come
    from ``host`` (default: this machine).  Raises :class:`InvalidPlatform`.
    """
    if not isinstance(spec, str):
        raise InvalidPlatform(f"invalid platform {spec!r}: not a string", hint=_HINT)
    if "*" in spec:
        raise _error(spec, "wildcards are not supported")
    parts = spec.split("/", 3)
    os_match = _OS_RE.fullmatch(parts[0])
    if os_match is None:
        what = "empty OS" if not parts[0] else f"{parts[0]!r} is not a valid OS"
        raise _error(
            spec,
            f"{what} (expected letters, digits, '_' or '-', then an optional (version+feature...))",
        )
    for part in parts[1:]:
        if not _PART_RE.fullmatch(part):
            what = "empty component" if not part else f"{part!r} is not a valid component"
            raise _error(spec, f"{what} (expected letters, digits, '_', '.' or '-')")
    os_name = _normalize_os(os_match.group(1))
    os_version = _decode(os_match.group(2) or "", spec)
    features = os_match.group(3)
    os_features = tuple(_decode(f, spec) for f in features[1:].split("+")) if features else ()
    base = Platform(os_name, "", None, os_version or None, os_features)

    if len(parts) == 1:
        here = host or _this_machine()
        if os_name in KNOWN_OS:
            variant = here.variant if here.architecture == "arm" and here.variant != "v7" else None
            return replace(base, architecture=here.architecture, variant=variant)
        arch, variant = _normalize_arch(parts[0], "")
        if arch in KNOWN_ARCH:
            return Platform(here.os, arch, None if arch == "arm" and variant == "v7" else variant)
        raise _error(spec, f"unknown operating system or architecture {parts[0]!r}")
    if len(parts) == 2:
        arch, variant = _normalize_arch(parts[1], "")
        if arch == "arm" and variant == "v7":
            variant = None
        return replace(base, architecture=arch, variant=variant)
    if len(parts) == 3:
        arch, variant = _normalize_arch(parts[1], parts[2])
        if arch == "arm64" and variant is None:
            variant = "v8"
        return replace(base, architecture=arch, variant=variant)
    raise _error(spec, "too many components (expected at most os/arch/variant)")


def normalize(p: Platform, *, host: Platform | None = None) -> Platform:
    """containerd's ``Normalize``: canonical OS, architecture and variant; sorted features.

    An empty OS becomes the host's.
    """
    os_name = _normalize_os(p.os) if p.os else (host or _this_machine()).os
    arch, variant = _normalize_arch(p.architecture, p.variant or "")
    return replace(
        p,
        os=os_name,
        architecture=arch,
        variant=variant,
        os_version=p.os_version or None,
        os_features=tuple(sorted(set(p.os_features))),
    )


def _normalize_os(os_name: str) -> str:
    os_name = os_name.lower()
    return "darwin" if os_name == "macos" else os_name


def _normalize_arch(arch: str, variant: str) -> tuple[str, str | None]:
    arch, variant = arch.lower(), variant.lower()
    if arch == "i386":
        arch, variant = "386", ""
    elif arch in ("x86_64", "x86-64", "amd64"):
        arch = "amd64"
        if variant == "v1":
            variant = ""
    elif arch in ("aarch64", "arm64"):
        arch = "arm64"
        if variant in ("8", "v8", "v8.0"):
            variant = ""
        elif variant in ("9", "9.0", "v9.0"):
            variant = "v9"
    elif arch == "armhf":
        arch, variant = "arm", "v7"
    elif arch == "armel":
        arch, variant = "arm", "v6"
    elif arch == "arm":
        if variant in ("", "7"):
            variant = "v7"
        elif variant in ("5", "6", "8"):
            variant = "v" + variant
    return arch, variant or None


def _decode(value: str, spec: str) -> str:
    """Undo the %-escapes of an OS version or feature (Go's url.PathUnescape)."""
    if "%" not in value:
        return value
    if _BAD_ESCAPE.search(value):
        raise _error(spec, f"invalid %-escape in OS option {value!r}")
    try:
        return urllib.parse.unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise _error(spec, f"OS option {value!r} is not UTF-8 once unescaped") from None


def format_all(p: Platform) -> str:
    """containerd's ``FormatAll``: ``os(version+feature...)/arch/variant``, features sorted."""
    options = _encode(p.os_version or "") + "".join("+" + _encode(f) for f in sorted(p.os_features))
    os_part = f"{p.os}({options})" if options else p.os
    return "/".join(x for x in (os_part, p.architecture, p.variant) if x)


def _encode(value: str) -> str:
    for char, escaped in (("%", "%25"), ("+", "%2B"), ("(", "%28"), (")", "%29"), ("/", "%2F")):
        value = value.replace(char, escaped)
    return value


# --- the host ----------------------------------------------------------------------------


def host(machine: str | None = None, system: str | None = None) -> Platform:
    """This machine's platform, as containerd's ``DefaultSpec`` (arm64 hosts get variant v8).

    ``machine``/``system`` default to :func:`platform.machine` and
    :func:`platform.system` (``uname -m`` / ``uname -s``).
    """
    machine = (machine if machine is not None else _platform.machine()).lower()
    system = (system if system is not None else _platform.system()).lower()
    os_name = _normalize_os(system) or "linux"
    if machine.startswith("armv"):
        number = cpu_variant(machine)
        variant = f"v{number}" if number != "unknown" else None
        return Platform(os_name, "arm", variant)
    arch, variant = _normalize_arch(_MACHINES.get(machine, machine), "")
    if arch == "arm64":
        variant = "v8"
    return Platform(os_name, arch, variant)


def _this_machine() -> Platform:
    return host()


def cpu_variant(machine: str) -> str:
    """The ARM version number in a ``uname -m`` string (containerd's getCPUVariantFromArch).

    ``aarch64`` -> ``"8"``, ``armv7l`` -> ``"7"``, ``armv9`` -> ``"unknown"``.
    """
    arch = machine.lower()
    if arch == "aarch64":
        return "8"
    if arch.startswith("armv") and len(arch) >= 5:
        number = arch[4]
        return number if number in "345678" else "unknown"
    raise InvalidPlatform(f"cannot tell the ARM variant of machine {machine!r}")


# --- matching and ordering ---------------------------------------------------------------

Mode = Literal["only", "strict", "os"]


@dataclass(frozen=True, slots=True)
class Matcher:
    """containerd's platform MatchComparers for one wanted platform.

    ``mode="only"`` is ``platforms.Only`` (what a puller uses), ``"strict"`` is
    ``OnlyStrict`` (no fallback to older variants or 386), ``"os"`` is ``OnlyOS``
    (any architecture of the same OS, OS version and features).
    """

    want: Platform
    mode: Mode = "only"

    def match(self, candidate: Platform) -> bool:
        if self.mode == "os":
            return _os_match(normalize(self.want), candidate)
        return _first_match(self._vector(), candidate) is not None

    def sort(self, platforms: Iterable[Platform]) -> list[Platform]:
        """All ``platforms``, best first (a stable sort: equals keep their order)."""
        return sorted(platforms, key=self.key)

    def _vector(self) -> list[Platform]:
        want = normalize(self.want)
        return _vector(want) if self.mode == "only" else [want]

    def key(self, p: Platform) -> tuple[int, ...]:
        """Sort key: smaller is better (equivalent to containerd's ``Less``)."""
        if self.mode == "os":
            if not _os_match(normalize(self.want), p):
                return (1,)
            return (0, *_ordered_key([normalize(self.want)], p))
        return _ordered_key(self._vector(), p)


def matches(want: Platform, candidate: Platform) -> bool:
    """Can a host that wants ``want`` run ``candidate``?  (containerd ``platforms.Only``)."""
    return Matcher(want).match(candidate)


def best_first(
    want: Platform, descriptors: Sequence[Descriptor], *, mode: Mode = "only"
) -> list[Descriptor]:
    """The descriptors whose platform matches ``want``, best match first.

    Entries without a platform are skipped.  Among equally good matches the
    index order is kept, except that for Windows the newest OS version of a
    compatible build comes first (as containerd does on Windows hosts).
    """
    matcher = Matcher(want, mode)
    chosen = [d for d in descriptors if d.platform is not None and matcher.match(d.platform)]
    return sorted(chosen, key=lambda d: matcher.key(d.platform or want))


def _ordered_key(vector: Sequence[Platform], p: Platform) -> tuple[int, ...]:
    """Sort key equivalent to containerd's orderedPlatformComparer.Less over ``vector``."""
    rank = _first_match(vector, p)
    if rank is not None:
        # Same rank: more OS features first, then (Windows) the newest OS version.
        newest = _descending(p.os_version or "") if vector[0].os == "windows" else ()
        return (0, rank, -len(p.os_features), *newest)
    if p.os_features:
        rank = _first_match(vector, replace(p, os_features=()))
        if rank is not None:
            return (1, rank)
    return (2,)


def _first_match(vector: Sequence[Platform], p: Platform) -> int | None:
    return next((i for i, entry in enumerate(vector) if _match_one(entry, p)), None)


def _descending(text: str) -> tuple[int, ...]:
    """A key that sorts strings in descending (Go byte-wise) order."""
    return (*(-b for b in text.encode()), 1)


def _vector(p: Platform) -> list[Platform]:
    """containerd's platformVector: ``p`` and what it can also run, best first."""
    out = [p]
    variant = p.variant or ""
    if p.architecture == "amd64":
        level = _atoi(variant.removeprefix("v"))
        if level is not None and level > 1:
            out += [replace(p, variant=f"v{v}") for v in range(level - 1, 0, -1)]
        out.append(replace(p, architecture="386", variant=None))
    elif p.architecture == "arm":
        level = _atoi(variant.removeprefix("v"))
        if level is not None and level > 5:
            out += [replace(p, variant=f"v{v}") for v in range(level - 1, 4, -1)]
    elif p.architecture == "arm64":
        variant = variant or "v8"
        major_text, dot, minor_text = variant.partition(".")
        major = _atoi(major_text.removeprefix("v"))
        if major is not None and major >= 8:
            minor = (_atoi(minor_text) or 0) if dot and len(variant) == 4 else 0
            if major == 9:
                out += [replace(p, variant=_arm64(9, m)) for m in range(minor - 1, -1, -1)]
                # v9.0 diverged from v8.5: v9.x runs v8.(x+5), up to v8.9.
                major, minor = 8, min(minor + 5, 9)
                out.append(replace(p, variant=f"v8.{minor}"))
            out += [replace(p, variant=_arm64(major, m)) for m in range(minor - 1, -1, -1)]
        if variant.startswith(("v8.", "v9.")):
            variant = "v8"
        out += _vector(replace(p, architecture="arm", variant=variant))
    return out


def _arm64(major: int, minor: int) -> str:
    return f"v{major}" if minor == 0 else f"v{major}.{minor}"


def _atoi(text: str) -> int | None:
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text, re.A) else None


def no_match(
    where: str, want: Platform, offered: Iterable[Platform | None], alternative: str | None = None
) -> PlatformNotFound:
    """The error for an index with no manifest for ``want``: it lists what the index offers
    (with ``os.version`` for Windows) and how to pick one; ``alternative`` is one more way out
    the command has (``use --all-platforms``)."""
    listed = list(dict.fromkeys(p for p in offered if p is not None))
    if not listed:
        return PlatformNotFound(
            f"{where}: no manifest for platform {want}: the index lists no platforms",
            hint=alternative,
        )
    names = ", ".join(dict.fromkeys(p.describe() for p in listed))
    hint = f"pick one of them with --platform {listed[0]}"
    return PlatformNotFound(
        f"{where}: no manifest for platform {want}; the index has: {names}",
        hint=f"{hint}, or {alternative}" if alternative else hint,
    )


def _match_one(want: Platform, candidate: Platform) -> bool:
    """containerd's NewMatcher(want).Match(candidate)."""
    w, c = normalize(want), normalize(candidate)
    if (w.os, w.architecture, w.variant) != (c.os, c.architecture, c.variant):
        return False
    if w.os == "windows" and not _windows_compatible(w.os_version, candidate.os_version):
        return False
    return set(c.os_features) <= set(w.os_features)


def _os_match(want: Platform, candidate: Platform) -> bool:
    """containerd's OnlyOS match: same OS, compatible OS version, features a subset."""
    c = normalize(candidate)
    if want.os != c.os:
        return False
    if want.os == "windows" and not _windows_compatible(want.os_version, candidate.os_version):
        return False
    return set(c.os_features) <= set(want.os_features)


def _windows_compatible(host_version: str | None, image_version: str | None) -> bool:
    """Can a Windows host of ``host_version`` run a container image of ``image_version``?"""
    h = _windows_version(host_version or "")
    if h == (0, 0, 0) or not image_version:
        return True
    c = _windows_version(image_version)
    if h[:2] != c[:2]:
        return False
    if h[2] < _WINDOWS_COMPAT_LTSC[0]:
        return h[2] == c[2]  # before Windows Server 2022 the build must match exactly
    supported = max(b for b in _WINDOWS_COMPAT_LTSC if b <= h[2])
    return supported <= c[2] <= h[2]


def _windows_version(text: str) -> tuple[int, int, int]:
    """``major.minor.build[.revision]`` -> (major, minor, build); (0, 0, 0) if unparsable."""
    parts = text.split(".")
    if len(parts) < 3 or not all(re.fullmatch(r"[0-9]+", x, re.A) for x in parts[:3]):
        return (0, 0, 0)
    major, minor, build = (int(x) for x in parts[:3])
    if major > 0xFF or minor > 0xFF or build > 0xFFFF:
        return (0, 0, 0)
    return (major, minor, build)


def _error(spec: str, why: str) -> InvalidPlatform:
    shown = spec if len(spec) <= 100 else spec[:100] + "..."
    return InvalidPlatform(f"invalid platform {shown!r}: {why}", hint=_HINT)
