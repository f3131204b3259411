"""Store maintenance: garbage collection and the full check.

gc keeps every blob reachable from ``index.json``: each entry, and for each stored
index or manifest what it lists (an index's manifests, a manifest's config and
layers).  Children that are not stored (other platforms of an index) are skipped.
It also removes partial downloads older than ``ingest_max_age``, leftover temp files
and stale lock files.  It runs holding ``gc.lock`` exclusively (every writer holds
it shared, so gc waits for running pulls) and the index lock (no image is recorded
meanwhile).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from ctrpy.errors import CtrpyError, StoreError
from ctrpy.oci import mediatypes
from ctrpy.oci.descriptor import MAX_MANIFEST_SIZE, Descriptor, Index, Manifest, parse
from ctrpy.oci.digest import Digest
from ctrpy.store import fs
from ctrpy.store.content import ContentStore, Problem
from ctrpy.store.images import ImageStore
from ctrpy.store.layout import Layout

DEFAULT_INGEST_MAX_AGE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Removal:
    """One thing gc removed (or, in a dry run, would remove)."""

    path: str  # relative to the store root
    reason: str  # "unreferenced blob", "stale partial download", "leftover temp file", ...
    size: int
    digest: Digest | None = None


@dataclass(frozen=True, slots=True)
class GcResult:
    removed: tuple[Removal, ...]
    bytes_freed: int
    dry_run: bool


@dataclass(frozen=True, slots=True)
class _Node:
    desc: Descriptor
    parent_kind: str | None  # None for an index.json entry


def walk(content: ContentStore, roots: list[Descriptor]) -> Iterator[tuple[_Node, str | None]]:
    """Every descriptor reachable from ``roots``, once each, with a problem text when its
    stored document cannot be read or parsed (its children are then unknown)."""
    seen: set[Digest] = set()
    stack = [_Node(d, None) for d in reversed(roots)]
    while stack:
        node = stack.pop()
        desc = node.desc
        if desc.digest in seen:
            continue
        seen.add(desc.digest)
        kind = mediatypes.kind(desc.media_type)
        size = content.size(desc.digest)
        if kind not in ("index", "manifest") or size is None:
            yield node, None
            continue
        if size > MAX_MANIFEST_SIZE:
            yield node, f"stored {kind} {desc.digest} is {size} bytes, too large to be one"
            continue
        try:
            doc = parse(content.read(desc.digest), desc.media_type)
        except CtrpyError as exc:
            yield node, f"stored {kind} {desc.digest} cannot be used: {exc.message}"
            continue
        yield node, None
        if isinstance(doc, Index):
            children: list[Descriptor] = list(doc.manifests)
        else:
            assert isinstance(doc, Manifest)
            children = [doc.config, *doc.layers]
        stack.extend(_Node(c, kind) for c in reversed(children))


def check(layout: Layout, content: ContentStore, images: ImageStore) -> list[Problem]:
    """Re-hash every blob (corrupt, unexpected, temp) and find what images miss."""
    problems = content.check()
    reported = {p.digest for p in problems if p.digest is not None}
    for node, trouble in walk(content, images.descriptors()):
        desc = node.desc
        rel = layout.relative(layout.blob(desc.digest))
        if trouble is not None:
            if desc.digest not in reported:
                problems.append(Problem("corrupt", rel, desc.digest, trouble))
            continue
        if node.parent_kind == "index":
            continue  # an index's other platforms are not expected to be here
        if not content.has(desc):
            where = "an image record" if node.parent_kind is None else "a stored manifest"
            size = content.size(desc.digest)
            state = "is absent" if size is None else f"has {size} bytes, not {desc.size}"
            problems.append(
                Problem("missing", rel, desc.digest, f"{desc.key} ({where} needs it) {state}")
            )
    return problems


def gc(
    layout: Layout,
    content: ContentStore,
    images: ImageStore,
    *,
    dry_run: bool = False,
    ingest_max_age: timedelta = DEFAULT_INGEST_MAX_AGE,
) -> GcResult:
    if not layout.oci_layout.exists():
        return GcResult((), 0, dry_run)
    layout.ensure()
    with (
        layout.locked(layout.gc_lock, shared=dry_run, unlink=False),
        layout.locked(layout.index_lock),
    ):
        keep: set[Digest] = set()
        for node, trouble in walk(content, images.descriptors()):
            if trouble is not None:
                raise StoreError(
                    f"gc stopped, nothing was removed: {trouble}",
                    hint=f"remove {layout.blob(node.desc.digest)} and pull the image that uses "
                    "it again, or remove that image's name",
                )
            keep.add(node.desc.digest)
        removed: list[Removal] = []
        for digest, path in content.blobs():
            if digest not in keep:
                removed.append(Removal(layout.relative(path), "unreferenced blob", 0, digest))
        removed = [_sized(layout, r) for r in removed]
        removed += _ingest_garbage(layout, ingest_max_age)
        if not dry_run:
            removed = _remove_all(layout, removed)
    return GcResult(tuple(removed), sum(r.size for r in removed), dry_run)


def _sized(layout: Layout, removal: Removal) -> Removal:
    try:
        size = os.lstat(layout.root / removal.path).st_size
    except FileNotFoundError:
        size = 0
    return Removal(removal.path, removal.reason, size, removal.digest)


def _ingest_garbage(layout: Layout, max_age: timedelta) -> list[Removal]:
    now = time.time()
    found: list[Removal] = []
    held = {layout.gc_lock.name, layout.index_lock.name}
    for directory in (layout.ingest, layout.root):
        try:
            names = sorted(os.listdir(directory))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise layout.error(exc, "list", directory) from exc
        for name in names:
            path = directory / name
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            rel = layout.relative(path)
            if name.endswith(".tmp"):
                # Every temp-file writer holds the index lock, which gc holds now.
                found.append(Removal(rel, "leftover temp file", st.st_size))
            elif directory == layout.root:
                continue
            elif name.endswith(".partial") and now - st.st_mtime > max_age.total_seconds():
                found.append(Removal(rel, "stale partial download", st.st_size))
            elif name.endswith(".lock") and name not in held:
                found.append(Removal(rel, "stale lock file", st.st_size))
    return found


def _remove_all(layout: Layout, removals: list[Removal]) -> list[Removal]:
    done: list[Removal] = []
    dirs: set[Path] = set()
    for removal in removals:
        path = layout.root / removal.path
        fd = None
        if removal.reason == "stale lock file":
            fd = fs.try_lock(path)  # never remove a lock somebody holds
            if fd is None:
                continue
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise layout.error(exc, "remove", path) from exc
        finally:
            if fd is not None:
                os.close(fd)
        dirs.add(path.parent)
        done.append(removal)
    for directory in dirs:
        try:
            fs.fsync_dir(directory)
        except OSError as exc:
            raise layout.error(exc, "sync", directory) from exc
    return done
