"""``--format json`` documents of ``digest``, ``digest --check``, ``rm`` and ``prune``.

Keys are camelCase like the OCI documents; digests are whole; sizes in bytes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ctrpy.oci.descriptor import Platform
    from ctrpy.query import CheckResult, RemoteDigest
    from ctrpy.store.maintenance import GcResult


def echo(document: object) -> None:
    """Print ``document`` as indented JSON on stdout."""
    click.echo(json.dumps(document, indent=2))


def rate_limit(value: object) -> dict[str, Any] | None:
    """The registry's rate limit as an object (``limit``, ``remaining``, ``window`` and
    ``reset`` in seconds, ``source``), or None when it sent none."""
    if value is None or not dataclasses.is_dataclass(value) or isinstance(value, type):
        return None
    return dataclasses.asdict(value)


def digest(found: RemoteDigest, platform: Platform | None) -> dict[str, Any]:
    desc = found.descriptor
    out: dict[str, Any] = {
        "reference": found.name,
        "digest": str(found.digest),
        "mediaType": desc.media_type,
        "size": desc.size,
    }
    if platform is not None:
        out["platform"] = str(platform)
        if found.target.kind == "index":  # a single-manifest tag has no index
            out["index"] = str(found.target.digest)
        out["fetchedIndex"] = found.fetched_index
    out["rateLimit"] = rate_limit(found.rate_limit)
    return out


def check(result: CheckResult) -> dict[str, Any]:
    return {
        "reference": result.name,
        "upToDate": result.up_to_date,
        "stored": None if result.stored is None else str(result.stored),
        "remote": str(result.remote),
        "rateLimit": rate_limit(result.rate_limit),
    }


def removed_names(removed: Sequence[str], missing: Sequence[str]) -> dict[str, Any]:
    return {"removed": list(removed), "notFound": list(missing)}


def prune(result: GcResult) -> dict[str, Any]:
    return {
        "dryRun": result.dry_run,
        "removed": [
            {
                "path": r.path,
                "reason": r.reason,
                "size": r.size,
                "digest": None if r.digest is None else str(r.digest),
            }
            for r in result.removed
        ],
        "bytesFreed": result.bytes_freed,
    }
