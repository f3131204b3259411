"""Where everything lives under the store root (the on-disk format, a compatibility promise).

::

    <root>/oci-layout                      {"imageLayoutVersion": "1.0.0"}        0644
    <root>/index.json                      OCI image index of image records      0644
    <root>/blobs/<alg>/<hex>               committed, verified content           0444
    <root>/ingest/<alg>-<hex>.partial      a download in progress or interrupted 0644
    <root>/ingest/<alg>-<hex>.lock         per-digest writer lock (flock)        0644
    <root>/ingest/index.json.lock          serializes index.json updates (flock) 0644
    <root>/ingest/gc.lock                  writers share it, gc takes it alone   0644
    <root>/<name>.<random>.tmp             atomic-write temp files (index.json, oci-layout)

Per-digest and index lock files are removed by their holder; one left behind by a
killed process is harmless (flock locks die with their process).  ``gc.lock`` stays.
Nothing is created until the first write.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ctrpy.errors import StoreError
from ctrpy.oci import mediatypes
from ctrpy.oci.digest import Digest
from ctrpy.store import fs

LAYOUT_VERSION = "1.0.0"
OCI_LAYOUT = json.dumps({"imageLayoutVersion": LAYOUT_VERSION}).encode()
EMPTY_INDEX = (
    json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": []}, indent=2)
    + "\n"
).encode()

#: Entries a store root may hold before it has an ``oci-layout`` (anything else: refuse).
_KNOWN = frozenset({"oci-layout", "index.json", "blobs", "ingest"})

BLOB_MODE = 0o444
FILE_MODE = 0o644


class Layout:
    """Paths under one store root, and the one-time creation of the layout."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(os.path.abspath(os.fspath(root)))
        self.blobs = self.root / "blobs"
        self.ingest = self.root / "ingest"
        self.index = self.root / "index.json"
        self.oci_layout = self.root / "oci-layout"
        self.index_lock = self.ingest / "index.json.lock"
        self.gc_lock = self.ingest / "gc.lock"
        self._ready = False
        self._mutex = threading.Lock()

    # --- paths ------------------------------------------------------------------

    def blob(self, digest: Digest) -> Path:
        """``blobs/<alg>/<hex>``; only a validated :class:`Digest` becomes a path."""
        if not isinstance(digest, Digest):
            raise TypeError(f"expected a Digest, got {type(digest).__name__}")
        # Digest validated algorithm and hex on construction; re-check anyway, since
        # this is the one place where untrusted text turns into a file name.
        Digest(digest.algorithm, digest.hex)
        path = self.blobs / digest.algorithm / digest.hex
        if os.path.commonpath([self.root, path]) != str(self.root):  # pragma: no cover
            raise StoreError(f"refusing a blob path outside the store: {digest}")
        return path

    def partial(self, digest: Digest) -> Path:
        self.blob(digest)  # same validation
        return self.ingest / f"{digest.algorithm}-{digest.hex}.partial"

    def digest_lock(self, digest: Digest) -> Path:
        self.blob(digest)
        return self.ingest / f"{digest.algorithm}-{digest.hex}.lock"

    def relative(self, path: Path) -> str:
        return fs.relative(path, self.root)

    def error(self, exc: OSError, action: str, path: Path) -> StoreError:
        return fs.store_error(exc, action, path, self.root)

    # --- creation -----------------------------------------------------------------

    def ensure(self) -> None:
        """Create the layout on first write (idempotent, safe between processes)."""
        if self._ready:
            return
        with self._mutex:
            if self._ready:
                return
            self._check_root()
            path = self.root
            try:
                for path in (self.root, self.ingest, self.blobs, self.blobs / "sha256"):
                    path.mkdir(parents=True, exist_ok=True)
                path = self.index_lock
                with fs.lock(self.index_lock):
                    path = self.oci_layout
                    if not self.oci_layout.exists():
                        fs.atomic_write(self.oci_layout, OCI_LAYOUT, replace=False)
                    path = self.index
                    if not self.index.exists():
                        fs.atomic_write(self.index, EMPTY_INDEX, replace=False)
            except OSError as exc:
                raise self.error(exc, "create", path) from exc
            self._check_version()
            self._ready = True

    def _check_root(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(
                f"the store root {self.root} is not a directory",
                hint="use --root to point at a directory",
            )
        if not self.root.is_dir() or self.oci_layout.exists():
            return
        try:
            # another process creating the layout right now leaves `<known>.<random>.tmp`
            foreign = sorted(
                name
                for name in set(os.listdir(self.root)) - _KNOWN
                if not (name.endswith(".tmp") and name.split(".", 1)[0] in ("oci-layout", "index"))
            )
        except OSError as exc:
            raise self.error(exc, "list", self.root) from exc
        if foreign:
            raise StoreError(
                f"refusing to write to {self.root}: it is neither empty nor an OCI image "
                f"layout (it holds {', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''})",
                hint="use --root to choose an empty directory or an existing store",
            )

    def _check_version(self) -> None:
        try:
            data = json.loads(self.oci_layout.read_bytes())
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"cannot read {self.oci_layout}: {exc}",
                hint="the store root is damaged; use --root to choose another directory",
            ) from exc
        version = data.get("imageLayoutVersion") if isinstance(data, dict) else None
        if version != LAYOUT_VERSION:
            raise StoreError(
                f"unsupported OCI layout version {version!r} in {self.oci_layout} "
                f"(ctrpy writes {LAYOUT_VERSION})",
                hint="use --root to choose another directory",
            )

    @contextmanager
    def lease(self) -> Iterator[None]:
        """Hold the shared side of ``gc.lock``: gc waits until every lease is released."""
        self.ensure()
        with self.locked(self.gc_lock, shared=True, unlink=False):
            yield

    def locked(
        self,
        path: Path,
        *,
        shared: bool = False,
        unlink: bool = True,
        on_wait: Callable[[], None] | None = None,
    ) -> ExitStack[bool | None]:
        """:func:`fs.lock`, acquired now, with OS errors turned into StoreErrors."""
        stack = ExitStack()
        try:
            stack.enter_context(fs.lock(path, shared=shared, unlink=unlink, on_wait=on_wait))
        except OSError as exc:
            raise self.error(exc, "lock", path) from exc
        return stack
