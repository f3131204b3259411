"""Media types a puller meets, and what kind of object each one names."""

from __future__ import annotations

import re
from typing import Literal

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"

DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})

#: What resolve and manifest GETs send as ``Accept`` (containerd's list).
MANIFEST_ACCEPT = ", ".join(
    [DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX, "*/*"]
)

Kind = Literal["index", "manifest", "config", "layer", "unknown"]

_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_SYNTAX = re.compile(rf"{_TOKEN}/{_TOKEN}")


def base(content_type: str) -> str:
    """A ``Content-Type`` value without parameters: ``a/b; charset=utf-8`` -> ``a/b``."""
    return content_type.split(";", 1)[0].strip().lower()


def is_valid(media_type: str) -> bool:
    """RFC 6838 syntax, no parameters (what a descriptor's mediaType may hold)."""
    return bool(_SYNTAX.fullmatch(media_type))


def kind(media_type: str) -> Kind:
    """Classify a media type the way containerd's images helpers do."""
    mt = base(media_type)
    if mt in INDEX_TYPES:
        return "index"
    if mt in MANIFEST_TYPES:
        return "manifest"
    if mt in (OCI_CONFIG, DOCKER_CONFIG) or mt.endswith(".config.v1+json"):
        return "config"
    if (
        mt.startswith("application/vnd.oci.image.layer.")
        or mt.startswith("application/vnd.docker.image.rootfs.")
        or mt.startswith("application/vnd.oci.image.layer.nondistributable.")
    ):
        return "layer"
    return "unknown"
