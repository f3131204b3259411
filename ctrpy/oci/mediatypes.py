"""Media types a puller meets, and what containerd makes of each one.

:func:`kind`, :func:`compression` and :func:`is_nondistributable` answer as
containerd's ``core/images`` helpers (IsIndexType/IsManifestType/IsConfigType/
IsLayerType, DiffCompression, IsNonDistributable) do.
"""

from __future__ import annotations

import re
from typing import Literal

# OCI image-spec
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDISTRIBUTABLE_GZIP = OCI_LAYER_NONDISTRIBUTABLE + "+gzip"
OCI_LAYER_NONDISTRIBUTABLE_ZSTD = OCI_LAYER_NONDISTRIBUTABLE + "+zstd"
OCI_LAYER_ENCRYPTED = OCI_LAYER + "+encrypted"
OCI_LAYER_GZIP_ENCRYPTED = OCI_LAYER_GZIP + "+encrypted"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_DESCRIPTOR = "application/vnd.oci.descriptor.v1+json"
OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"
OCI_ARTIFACT_MANIFEST = "application/vnd.oci.artifact.manifest.v1+json"

# Docker image manifest v2 (schema 2) and friends
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_PLUGIN_CONFIG = "application/vnd.docker.plugin.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar"
DOCKER_LAYER_FOREIGN_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1_MANIFEST = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED_MANIFEST = "application/vnd.docker.distribution.manifest.v1+prettyjws"

IN_TOTO = "application/vnd.in-toto+json"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})
SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1_MANIFEST, DOCKER_SCHEMA1_SIGNED_MANIFEST})
_DOCKER_LAYER_TYPES = frozenset(
    {
        DOCKER_LAYER,
        DOCKER_LAYER_GZIP,
        DOCKER_LAYER_ZSTD,
        DOCKER_LAYER_FOREIGN,
        DOCKER_LAYER_FOREIGN_GZIP,
    }
)

#: What resolve and manifest GETs send as ``Accept`` (containerd's list).
MANIFEST_ACCEPT = ", ".join([DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX, "*/*"])

_NONDISTRIBUTABLE_PREFIXES = (
    "application/vnd.oci.image.layer.nondistributable.",
    "application/vnd.docker.image.rootfs.foreign.",
)

Kind = Literal["index", "manifest", "config", "layer", "unknown"]
Compression = Literal["none", "gzip", "zstd", "unknown"]

# RFC 6838 section 4.2: restricted names of at most 127 characters.
_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_SYNTAX = re.compile(rf"{_TOKEN}/{_TOKEN}", re.ASCII)


def base(content_type: str) -> str:
    """A ``Content-Type`` value without parameters: ``a/b; charset=utf-8`` -> ``a/b``."""
    return content_type.split(";", 1)[0].strip().lower()


def is_valid(media_type: str) -> bool:
    """RFC 6838 syntax, no parameters (what a descriptor's mediaType may hold)."""
    return bool(_SYNTAX.fullmatch(media_type))


def kind(media_type: str) -> Kind:
    """Classify a media type (parameters ignored) the way containerd's images helpers do."""
    mt = base(media_type)
    if mt in INDEX_TYPES:
        return "index"
    if mt in MANIFEST_TYPES:
        return "manifest"
    if mt in CONFIG_TYPES:
        return "config"
    if mt.startswith("application/vnd.oci.image.layer.") or _split(mt)[0] in _DOCKER_LAYER_TYPES:
        return "layer"
    return "unknown"


def compression(media_type: str) -> Compression | None:
    """How a layer is compressed (containerd's DiffCompression); None if not a layer type.

    ``"unknown"`` means the type does not say (Docker's plain ``diff.tar``): sniff the bytes.
    """
    main, suffixes = _split(base(media_type))
    if main in (DOCKER_LAYER, DOCKER_LAYER_FOREIGN):
        return "none" if suffixes else "unknown"
    if main in (DOCKER_LAYER_GZIP, DOCKER_LAYER_FOREIGN_GZIP):
        return "none" if suffixes else "gzip"
    if main == DOCKER_LAYER_ZSTD:
        return "none" if suffixes else "zstd"
    if main in (OCI_LAYER, OCI_LAYER_NONDISTRIBUTABLE):
        last = suffixes[-1] if suffixes else ""
        return "gzip" if last == "gzip" else "zstd" if last == "zstd" else "none"
    return None


def is_nondistributable(media_type: str) -> bool:
    """Layers that registries need not serve (foreign / non-distributable; often have urls)."""
    return base(media_type).startswith(_NONDISTRIBUTABLE_PREFIXES)


def is_encrypted(media_type: str) -> bool:
    """ocicrypt layers (``+encrypted``): they can be pulled but not used without keys."""
    return "encrypted" in _split(base(media_type))[1]


def is_schema1(media_type: str) -> bool:
    """Legacy Docker schema 1 manifests, which ctrpy (like containerd) refuses."""
    return base(media_type) in SCHEMA1_TYPES


def is_supported(media_type: str) -> bool:
    """Can ctrpy pull content of this type as part of an image?

    Indexes, manifests, image configs and (unencrypted) layers, OCI or Docker.
    """
    return kind(media_type) != "unknown" and not is_encrypted(media_type)


def _split(media_type: str) -> tuple[str, list[str]]:
    """``a/b+x+y`` -> (``a/b``, sorted [``x``, ``y``]), as containerd's parseMediaTypes."""
    main, plus, ext = media_type.partition("+")
    return main, sorted(ext.split("+")) if plus else []
