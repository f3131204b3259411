"""Image references, parsed and normalized exactly as distribution/reference does.

``hello-world:linux`` becomes ``docker.io/library/hello-world:linux``: the
default domain is ``docker.io`` (``index.docker.io`` is an alias), one-component
Docker Hub names get the ``library/`` namespace, and the first component is a
domain only when it contains ``.`` or ``:``, is ``localhost``, or has upper
case letters.  ``str(ref)`` is ``ParseNormalizedNamed(text).String()`` and
``ref.familiar`` is ``FamiliarString``; no default tag is added by parsing.

Two deliberate differences from the upstream test suite (not from docker or
containerd): ``sha512`` digests are accepted, and ``Uppercase/lowercase:tag``
parses with ``Uppercase`` as its domain (upstream keeps that case as a known bug).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ctrpy.errors import InvalidReference
from ctrpy.oci.digest import ALGORITHMS, Digest

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
#: Longest repository path (without the domain), counted after ``library/`` is added.
NAME_TOTAL_LENGTH_MAX = 255

# The grammar of distribution/reference's regexp.go, in ASCII only (Go's \w is ASCII).
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[[a-fA-F0-9:]+\]"
_DOMAIN_AND_PORT = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN_AND_PORT}/)?{_REMOTE_NAME}"

_REFERENCE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_ANCHORED_NAME = re.compile(rf"(?:({_DOMAIN_AND_PORT})/)?({_REMOTE_NAME})", re.ASCII)
_IDENTIFIER = re.compile(r"[a-f0-9]{64}", re.ASCII)

_HINT = "expected [registry[:port]/]name[:tag][@digest], e.g. docker.io/library/alpine:3.19"


@dataclass(frozen=True, slots=True)
class Reference:
    """A normalized image reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def name(self) -> str:
        """The repository name with its domain: ``docker.io/library/alpine``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The short repository name Docker shows: ``alpine``, ``user/app``, ``ghcr.io/x/y``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        rest = self.path.removeprefix(OFFICIAL_REPO_PREFIX)
        return rest if rest != self.path and "/" not in rest else self.path

    @property
    def familiar(self) -> str:
        """The short form (distribution's ``FamiliarString``): ``alpine:3.19``."""
        return self.familiar_name + self._suffix()

    @property
    def object(self) -> str:
        """What goes in ``/v2/<path>/manifests/<object>``: the digest, else the tag or latest."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag or DEFAULT_TAG

    def with_default_tag(self) -> Reference:
        """This reference, with tag ``latest`` when it has neither tag nor digest."""
        if self.tag is None and self.digest is None:
            return replace(self, tag=DEFAULT_TAG)
        return self

    def _suffix(self) -> str:
        tag = f":{self.tag}" if self.tag is not None else ""
        digest = f"@{self.digest}" if self.digest is not None else ""
        return tag + digest

    def __str__(self) -> str:
        return self.name + self._suffix()


def parse(text: str) -> Reference:
    """Parse and normalize ``text`` like distribution's ``ParseNormalizedNamed``.

    Raises :class:`~ctrpy.errors.InvalidReference` (exit code 2) with the reason.
    """
    if not isinstance(text, str):
        raise InvalidReference(f"invalid reference {text!r}: not a string", hint=_HINT)
    if _IDENTIFIER.fullmatch(text):
        raise _error(
            text,
            "a repository name cannot be a 64-byte hexadecimal string "
            "(cannot specify 64-byte hexadecimal strings)",
            hint="to pull by digest write name@sha256:<hex>",
        )
    domain, remainder = _split_docker_domain(text)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise _error(text, f"repository name {_show(remote)!r} must be lowercase", hint=None)
    return _parse_qualified(f"{domain}/{remainder}", text)


def _split_docker_domain(name: str) -> tuple[str, str]:
    """Split off the domain the way distribution's splitDockerDomain does."""
    first, slash, rest = name.partition("/")
    if not slash:
        return DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name
    if first == "localhost" or ("." in first or ":" in first) or first.lower() != first:
        domain, remote = first, rest
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_REPO_PREFIX + remote
    return domain, remote


def _parse_qualified(qualified: str, text: str) -> Reference:
    match = _REFERENCE.fullmatch(qualified)
    if match is None:
        if _REFERENCE.fullmatch(qualified.lower()):
            raise _error(text, "repository name must be lowercase", hint=None)
        raise _error(text, "invalid reference format")
    name, tag, digest_text = match.group(1, 2, 3)
    name_match = _ANCHORED_NAME.fullmatch(name)
    if name_match is None:  # pragma: no cover - _REFERENCE already matched this
        raise _error(text, "invalid reference format")
    domain, path = name_match.group(1, 2)
    if len(path) > NAME_TOTAL_LENGTH_MAX:
        raise _error(
            text,
            f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters "
            f"({len(path)} given)",
            hint=None,
        )
    digest = None if digest_text is None else _parse_digest(digest_text, text)
    return Reference(domain=domain or "", path=path, tag=tag, digest=digest)


def _parse_digest(value: str, text: str) -> Digest:
    """Validate a digest like go-digest's ``Parse`` (the grammar already matched)."""
    algorithm, _, hex_part = value.partition(":")
    length = ALGORITHMS.get(algorithm)
    if length is None:
        raise _error(
            text,
            f"unsupported digest algorithm {algorithm!r} (supported: {', '.join(ALGORITHMS)})",
            hint=None,
        )
    if len(hex_part) != length:
        raise _error(
            text,
            f"invalid checksum digest length: {algorithm} needs {length} hex characters, "
            f"got {len(hex_part)}",
            hint=None,
        )
    if hex_part.lower() != hex_part:
        raise _error(
            text, "invalid checksum digest format: hex digits must be lowercase", hint=None
        )
    return Digest(algorithm, hex_part)


def _show(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _error(text: str, why: str, hint: str | None = _HINT) -> InvalidReference:
    return InvalidReference(f"invalid reference {_show(text)!r}: {why}", hint=hint)
