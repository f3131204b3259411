"""Descriptors, platforms, manifests and indexes, parsed from JSON with validation.

Everything here comes from a registry we do not trust: every field is checked
for type and range before it becomes a value, and every failure is an
:class:`~ctrpy.errors.InvalidManifest` that says what was wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ctrpy.errors import InvalidDigest, InvalidManifest
from ctrpy.oci import mediatypes
from ctrpy.oci.digest import Digest

#: A manifest or index body larger than this is refused (containerd uses 4 MiB too).
MAX_MANIFEST_SIZE = 4 * 1024 * 1024
#: Descriptors larger than this are refused as absurd (1 TiB).
MAX_BLOB_SIZE = 1 << 40
#: More layers than this in one manifest, or manifests in one index, is refused.
MAX_ENTRIES = 1000


@dataclass(frozen=True, slots=True, order=True)
class Platform:
    """An OS/architecture pair with optional variant and OS version (OCI ``platform``)."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] = ()

    def __str__(self) -> str:
        parts = [self.os, self.architecture]
        if self.variant:
            parts.append(self.variant)
        return "/".join(parts)

    def describe(self) -> str:
        """``os/arch[/variant]`` plus ``(os.version X)`` when one is set."""
        if self.os_version:
            return f"{self} (os.version {self.os_version})"
        return str(self)

    @classmethod
    def from_json(cls, data: object) -> Platform:
        obj = _object(data, "platform")
        return cls(
            os=_string(obj, "os", "platform"),
            architecture=_string(obj, "architecture", "platform"),
            variant=_optional_string(obj, "variant", "platform"),
            os_version=_optional_string(obj, "os.version", "platform"),
            os_features=tuple(_string_list(obj, "os.features", "platform")),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out


@dataclass(frozen=True, slots=True)
class Descriptor:
    """What points at content: media type, digest, size (and, in an index, a platform)."""

    media_type: str
    digest: Digest
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    urls: tuple[str, ...] = ()

    @property
    def kind(self) -> mediatypes.Kind:
        return mediatypes.kind(self.media_type)

    @property
    def is_attestation(self) -> bool:
        """An index entry that is not an image for a platform (BuildKit attestations)."""
        if self.annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            return True
        p = self.platform
        return p is not None and p.os == "unknown" and p.architecture == "unknown"

    @property
    def key(self) -> str:
        """ctr's progress key: ``layer-sha256:<hex>`` and the like."""
        kind = self.kind
        return f"{'layer' if kind == 'unknown' else kind}-{self.digest}"

    @classmethod
    def from_json(cls, data: object, where: str = "descriptor") -> Descriptor:
        obj = _object(data, where)
        media_type = _string(obj, "mediaType", where)
        if not mediatypes.is_valid(media_type):
            raise InvalidManifest(f"{where}: invalid mediaType {media_type[:100]!r}")
        raw_digest = _string(obj, "digest", where)
        try:
            digest = Digest.parse(raw_digest)
        except InvalidDigest as exc:
            raise InvalidManifest(f"{where}: {exc.message}") from None
        size = obj.get("size")
        if isinstance(size, bool) or not isinstance(size, int):
            raise InvalidManifest(f"{where}: size must be an integer, got {size!r:.40}")
        if size < 0 or size > MAX_BLOB_SIZE:
            raise InvalidManifest(f"{where} {digest}: absurd size {size}")
        platform = obj.get("platform")
        return cls(
            media_type=media_type,
            digest=digest,
            size=size,
            platform=None if platform is None else Platform.from_json(platform),
            annotations=_annotations(obj, where),
            urls=tuple(_string_list(obj, "urls", where)),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        return out


@dataclass(frozen=True, slots=True)
class Manifest:
    """An image manifest (OCI or Docker schema 2): one config and its layers."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class Index:
    """An image index (OCI) or manifest list (Docker): manifests per platform."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)


def parse(body: bytes, media_type: str | None = None) -> Manifest | Index:
    """Parse a manifest or index body; raise :class:`InvalidManifest` if it is unusable.

    ``media_type`` is what the registry or the parent descriptor declared; the
    document must be of that kind (see :func:`check_document_type`).  An OCI
    type declared for a Docker document of the same kind (or the other way
    round) is fine, as in containerd.  Without a usable declared type the
    document's own ``mediaType`` decides, and without that its fields do.
    """
    if len(body) > MAX_MANIFEST_SIZE:
        raise InvalidManifest(
            f"manifest is {len(body)} bytes, more than the {MAX_MANIFEST_SIZE} bytes allowed"
        )
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InvalidManifest(f"manifest is not valid JSON: {exc}") from None
    obj = _object(data, "manifest")
    check_document_type(obj, media_type)
    if obj.get("schemaVersion") != 2:
        raise InvalidManifest(
            f"unsupported manifest schemaVersion {obj.get('schemaVersion')!r:.20} "
            "(only schema 2 manifests and OCI documents are supported)"
        )
    mt = _document_type(obj, media_type)
    check_document_type(obj, mt)  # the document's own mediaType may have decided
    annotations = _annotations(obj, "manifest")
    if mediatypes.kind(mt) == "index":
        entries = _entries(obj, "manifests", "index", "manifests")
        manifests = tuple(_index_entry(e, f"index manifests[{i}]") for i, e in enumerate(entries))
        return Index(media_type=mt, manifests=manifests, annotations=annotations)
    if "config" not in obj:
        raise InvalidManifest(f"manifest ({mt}) has no config")
    config = Descriptor.from_json(obj["config"], "manifest config")
    entries = _entries(obj, "layers", "manifest", "layers")
    layers = tuple(Descriptor.from_json(e, f"manifest layers[{i}]") for i, e in enumerate(entries))
    return Manifest(media_type=mt, config=config, layers=layers, annotations=annotations)


def check_document_type(document: Mapping[str, Any], declared: str | None) -> None:
    """Refuse a document that is not the kind its declared media type says (containerd's check).

    A manifest must not list ``manifests`` or call itself an index; an index
    must not hold ``config``/``layers`` or call itself a manifest; schema 1
    documents (``fsLayers``) are refused whatever was declared.
    """
    inner = document.get("mediaType")
    if inner is not None and not isinstance(inner, str):
        raise InvalidManifest("manifest: mediaType must be a string")
    if _count(document, "fsLayers") or (declared and mediatypes.is_schema1(declared)):
        raise InvalidManifest(
            "legacy Docker schema 1 manifests are not supported",
            hint="push the image again with a current tool (schema 2 or OCI)",
        )
    inner_kind = mediatypes.kind(inner) if inner else "unknown"
    declared_kind = mediatypes.kind(declared) if declared else "unknown"
    if declared_kind == "manifest" and (_count(document, "manifests") or inner_kind == "index"):
        raise InvalidManifest(
            f"expected a manifest ({mediatypes.base(declared or '')}) but found an index"
        )
    if declared_kind == "index" and (
        "config" in document or _count(document, "layers") or inner_kind == "manifest"
    ):
        raise InvalidManifest(
            f"expected an index ({mediatypes.base(declared or '')}) but found a manifest"
        )


def _document_type(obj: Mapping[str, Any], declared: str | None) -> str:
    """The media type to treat a document as: declared, else its own, else by its fields."""
    for candidate in (declared, obj.get("mediaType")):
        if candidate and mediatypes.kind(candidate) in ("index", "manifest"):
            return mediatypes.base(candidate)
    inner = obj.get("mediaType")
    if inner:
        raise InvalidManifest(f"unsupported manifest media type {inner[:100]!r}")
    has_manifests = "manifests" in obj
    has_image = "config" in obj or "layers" in obj
    if has_manifests and not has_image:
        return mediatypes.OCI_INDEX
    if has_image and not has_manifests:
        return mediatypes.OCI_MANIFEST
    raise InvalidManifest("manifest has no mediaType and is neither an index nor a manifest")


def _index_entry(data: object, where: str) -> Descriptor:
    desc = Descriptor.from_json(data, where)
    if desc.kind in ("index", "manifest") and desc.size > MAX_MANIFEST_SIZE:
        raise InvalidManifest(
            f"{where} {desc.digest}: a {desc.kind} of {desc.size} bytes is more than the "
            f"{MAX_MANIFEST_SIZE} bytes allowed"
        )
    return desc


def _entries(obj: Mapping[str, Any], name: str, where: str, what: str) -> list[Any]:
    entries = _list(obj, name, where)
    if len(entries) > MAX_ENTRIES:
        raise InvalidManifest(f"{where} lists {len(entries)} {what} (at most {MAX_ENTRIES})")
    return entries


def _count(obj: Mapping[str, Any], name: str) -> int:
    return len(_list(obj, name, "manifest"))


# --- field helpers ----------------------------------------------------------------


def _object(data: object, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidManifest(f"{where}: expected a JSON object, got {type(data).__name__}")
    return data


def _list(obj: Mapping[str, Any], name: str, where: str) -> list[Any]:
    value = obj.get(name, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidManifest(f"{where}: {name} must be a list")
    return value


def _string(obj: Mapping[str, Any], name: str, where: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidManifest(f"{where}: missing or invalid {name}")
    return value


def _optional_string(obj: Mapping[str, Any], name: str, where: str) -> str | None:
    value = obj.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidManifest(f"{where}: {name} must be a string")
    return value


def _string_list(obj: Mapping[str, Any], name: str, where: str) -> list[str]:
    value = _list(obj, name, where)
    if not all(isinstance(v, str) for v in value):
        raise InvalidManifest(f"{where}: {name} must be a list of strings")
    return value


def _annotations(obj: Mapping[str, Any], where: str) -> dict[str, str]:
    value = obj.get("annotations")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidManifest(f"{where}: annotations must map strings to strings")
    return dict(value)
