"""Image records: name -> top descriptor, kept in the layout's ``index.json``.

Each record is one entry of ``index.json``'s ``manifests``: the descriptor of the
top object pulled (an index or a manifest) with these annotations::

    io.containerd.image.name           the fully qualified name (docker.io/library/x:tag)
    org.opencontainers.image.ref.name  the same name (skopeo: oci:<root>:<name>)
    io.ctrpy.image.created             RFC 3339 UTC, when the name was first recorded
    io.ctrpy.image.updated             RFC 3339 UTC, when it was last recorded

Updates are serialized between processes by ``ingest/index.json.lock`` and written
atomically (temp file, fsync, rename, fsync the directory).  Entries that other tools
wrote are kept as they are.
"""

from __future__ import annotations

import builtins
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ctrpy.errors import InvalidManifest, InvalidReference, StoreError
from ctrpy.oci import mediatypes
from ctrpy.oci.descriptor import Descriptor
from ctrpy.store import fs
from ctrpy.store.layout import Layout

NAME_ANNOTATION = "io.containerd.image.name"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
CREATED_ANNOTATION = "io.ctrpy.image.created"
UPDATED_ANNOTATION = "io.ctrpy.image.updated"
_OURS = frozenset({NAME_ANNOTATION, REF_NAME_ANNOTATION, CREATED_ANNOTATION, UPDATED_ANNOTATION})


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """One image name in the store and the descriptor it points at."""

    name: str
    target: Descriptor
    created: datetime
    updated: datetime


def format_time(when: datetime) -> str:
    """RFC 3339 in UTC with microseconds: ``2024-05-01T12:00:00.123456Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def entry_name(entry: Descriptor) -> str | None:
    """The image name an index.json entry records, if any."""
    return entry.annotations.get(NAME_ANNOTATION) or entry.annotations.get(REF_NAME_ANNOTATION)


class ImageStore:
    """The image records of one store root."""

    def __init__(self, layout: Layout) -> None:
        self._layout = layout

    # --- reading ------------------------------------------------------------------

    def list(self) -> builtins.list[ImageRecord]:
        """Every named image, sorted by name (one record per name)."""
        doc = self._read()
        if doc is None:
            return []
        fallback = self._mtime()
        records: dict[str, ImageRecord] = {}
        for entry in doc.entries:
            record = _record(entry, fallback)
            if record is not None and record.name not in records:
                records[record.name] = record
        return [records[name] for name in sorted(records)]

    def get(self, name: str) -> ImageRecord | None:
        doc = self._read()
        if doc is None:
            return None
        fallback = self._mtime()
        for entry in doc.entries:
            if entry_name(entry) == name:
                return _record(entry, fallback)
        return None

    def descriptors(self) -> builtins.list[Descriptor]:
        """Every entry of index.json, named or not (the roots that gc keeps)."""
        doc = self._read()
        return [] if doc is None else builtins.list(doc.entries)

    # --- writing ------------------------------------------------------------------

    def put(self, name: str, target: Descriptor) -> ImageRecord:
        """Record ``name`` -> ``target``, replacing the name's entry (keeping ``created``)."""
        _check_name(name)
        self._layout.ensure()
        with self._layout.locked(self._layout.index_lock):
            doc = self._read() or _Doc({}, [])
            now = datetime.now(UTC)
            existing = next((e for e in doc.entries if entry_name(e) == name), None)
            record = None if existing is None else _record(existing, now)
            created = record.created if record else now
            annotations = {k: v for k, v in target.annotations.items() if k not in _OURS}
            annotations.update(
                {
                    NAME_ANNOTATION: name,
                    REF_NAME_ANNOTATION: name,
                    CREATED_ANNOTATION: format_time(created),
                    UPDATED_ANNOTATION: format_time(now),
                }
            )
            entry = Descriptor(
                media_type=target.media_type,
                digest=target.digest,
                size=target.size,
                platform=target.platform,
                annotations=annotations,
                urls=target.urls,
            )
            entries: builtins.list[Descriptor] = []
            placed = False
            for old in doc.entries:
                if entry_name(old) != name:
                    entries.append(old)
                elif not placed:
                    entries.append(entry)
                    placed = True
            if not placed:
                entries.append(entry)
            self._write(_Doc(doc.raw, entries))
        stored = _record(entry, now)
        assert stored is not None  # entry carries the name annotation
        return stored

    def remove(self, name: str) -> bool:
        """Forget ``name``; True when it was there.  Its blobs stay until gc."""
        if self._read() is None:
            return False
        self._layout.ensure()
        with self._layout.locked(self._layout.index_lock):
            doc = self._read()
            if doc is None:
                return False
            kept = [e for e in doc.entries if entry_name(e) != name]
            if len(kept) == len(doc.entries):
                return False
            self._write(_Doc(doc.raw, kept))
        return True

    # --- index.json ---------------------------------------------------------------

    def _read(self) -> _Doc | None:
        path = self._layout.index
        try:
            body = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise self._layout.error(exc, "read", path) from exc
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            if data.get("schemaVersion") != 2:
                raise ValueError(f"schemaVersion is {data.get('schemaVersion')!r:.20}, not 2")
            manifests = data.get("manifests", [])
            if manifests is None:
                manifests = []
            if not isinstance(manifests, builtins.list):
                raise ValueError("manifests is not a list")
            entries = [Descriptor.from_json(m, f"manifests[{i}]") for i, m in enumerate(manifests)]
        except (ValueError, InvalidManifest, RecursionError) as exc:
            raise StoreError(
                f"the store's index.json ({path}) is corrupt: {exc}",
                hint="ctrpy will not overwrite it: repair it or move it aside (the blobs are "
                "safe), then pull the images again to record their names",
            ) from None
        return _Doc(data, entries)

    def _write(self, doc: _Doc) -> None:
        data: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_INDEX,
        }
        data.update({k: v for k, v in doc.raw.items() if k not in ("schemaVersion", "manifests")})
        data["mediaType"] = doc.raw.get("mediaType", mediatypes.OCI_INDEX)
        data["manifests"] = [e.to_json() for e in doc.entries]
        body = (json.dumps(data, indent=2) + "\n").encode()
        try:
            fs.atomic_write(self._layout.index, body)
        except OSError as exc:
            raise self._layout.error(exc, "write", self._layout.index) from exc

    def _mtime(self) -> datetime:
        try:
            return datetime.fromtimestamp(os.stat(self._layout.index).st_mtime, UTC)
        except OSError:
            return datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True, slots=True)
class _Doc:
    raw: dict[str, Any]
    entries: builtins.list[Descriptor]


def _record(entry: Descriptor, fallback: datetime) -> ImageRecord | None:
    name = entry_name(entry)
    if name is None:
        return None
    created = parse_time(entry.annotations.get(CREATED_ANNOTATION)) or fallback
    updated = parse_time(entry.annotations.get(UPDATED_ANNOTATION)) or created
    target = Descriptor(
        media_type=entry.media_type,
        digest=entry.digest,
        size=entry.size,
        platform=entry.platform,
        annotations={k: v for k, v in entry.annotations.items() if k not in _OURS},
        urls=entry.urls,
    )
    return ImageRecord(name=name, target=target, created=created, updated=updated)


def _check_name(name: str) -> None:
    if (
        not isinstance(name, str)
        or not name
        or len(name) > 4096
        or not name.isprintable()
        or any(c.isspace() for c in name)
    ):
        raise InvalidReference(f"invalid image name {name!r:.100}")
