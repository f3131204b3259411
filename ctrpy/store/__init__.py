"""The local store: the only package that writes to disk.

The root is a standard OCI image layout that skopeo, umoci and oras can read as it
is; see :mod:`ctrpy.store.layout` for the exact on-disk format.  Use it as::

    store = Store(root)                       # creates nothing until the first write
    with store.lease():                       # gc waits while a pull is running
        store.content.put(manifest_desc, body)
        with store.content.writer(layer_desc) as w:
            ...
        store.images.put("docker.io/library/x:tag", top_desc)
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctrpy.store.content import ContentStore, Problem, Writer
from ctrpy.store.images import ImageRecord, ImageStore
from ctrpy.store.layout import Layout

if TYPE_CHECKING:
    # gc and check live in maintenance, imported when used: most commands (pull, digest,
    # ls) never need it, and its import is ~2-3 ms of every start-up otherwise.
    from ctrpy.store.maintenance import GcResult, Removal


class Store:
    """One store root: its blobs (:attr:`content`) and its image names (:attr:`images`)."""

    def __init__(self, root: Path | str) -> None:
        self._layout = Layout(root)
        self.root: Path = self._layout.root
        self.content = ContentStore(self._layout)
        self.images = ImageStore(self._layout)

    def lease(self) -> AbstractContextManager[None]:
        """Hold while pulling: blobs written under a lease survive a concurrent gc until
        the image is recorded.  (Do not call :meth:`gc` while holding one: it would wait.)"""
        return self._layout.lease()

    def check(self) -> list[Problem]:
        """Re-hash every blob; report corrupt, stray and missing blobs and temp files."""
        from ctrpy.store import maintenance

        return maintenance.check(self._layout, self.content, self.images)

    def gc(self, *, dry_run: bool = False, ingest_max_age: timedelta | None = None) -> GcResult:
        """Remove blobs no image references, partials older than ``ingest_max_age``
        (default :data:`~ctrpy.store.maintenance.DEFAULT_INGEST_MAX_AGE`, a day), leftover
        temp and lock files.  ``dry_run`` only reports what would go."""
        from ctrpy.store import maintenance

        if ingest_max_age is None:
            ingest_max_age = maintenance.DEFAULT_INGEST_MAX_AGE
        return maintenance.gc(
            self._layout,
            self.content,
            self.images,
            dry_run=dry_run,
            ingest_max_age=ingest_max_age,
        )

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"


def __getattr__(name: str) -> Any:
    """``GcResult`` and ``Removal`` stay importable from here, loaded on first use."""
    if name in ("GcResult", "Removal"):
        from ctrpy.store import maintenance

        return getattr(maintenance, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ContentStore",
    "GcResult",
    "ImageRecord",
    "ImageStore",
    "Problem",
    "Removal",
    "Store",
    "Writer",
]
