"""The pull walk: resolve a reference, then fetch what the store lacks, and nothing else.

Order of work (each step skipped when the store already has its object):

1. resolve the tag with one HEAD (a digest reference whose object is stored needs no request);
2. GET the index or manifest by digest and store it;
3. for an index, choose the manifest(s) for the wanted platform(s) and GET each;
4. download config and layers, up to ``max_concurrent_downloads`` at a time, streamed into
   the store's writers (resuming a partial download from where it stopped);
5. record the image name, only once everything chosen is stored.

Progress is reported as :class:`~ctrpy.events.Event` values; nothing here prints.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from ctrpy.errors import InvalidManifest
from ctrpy.events import Event, Reporter, Status
from ctrpy.oci import platforms
from ctrpy.oci.descriptor import MAX_MANIFEST_SIZE, Descriptor, Index, Manifest, Platform, parse
from ctrpy.oci.digest import Digest
from ctrpy.oci.reference import Reference
from ctrpy.registry.client import Client, RateLimit
from ctrpy.store import Store

#: Blob bytes go to the store (hash + write) and to the reporter in blocks of this size, not
#: in the transport's 64 KiB pieces: 16x fewer hashlib/os.write calls and progress events.
BLOCK_SIZE = 1 << 20

#: how deep indexes may nest (an index listing an index listing ...) before a pull refuses
MAX_INDEX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class PullOptions:
    """What to pull from an index: the host's platform unless told otherwise."""

    #: wanted platforms; empty means the host's (``platforms.host()``)
    platforms: tuple[Platform, ...] = ()
    #: every manifest of an index, attestations included
    all_platforms: bool = False
    #: config and layer downloads running at once
    max_concurrent_downloads: int = 3

    def __post_init__(self) -> None:
        if self.max_concurrent_downloads < 1:
            raise ValueError("max_concurrent_downloads must be at least 1")


@dataclass(frozen=True, slots=True)
class PullResult:
    """What a pull did."""

    #: the name recorded in the store (fully qualified, with tag and/or digest)
    name: str
    #: the top object (index or manifest) the name now points at
    target: Descriptor
    #: the image manifests chosen (the target itself for a single-manifest image)
    manifests: tuple[Descriptor, ...]
    #: objects fetched from the registry in this pull (manifests and blobs)
    fetched: int
    #: objects that were already stored
    existing: int
    #: bytes received from the registry for those objects (a resumed blob counts its rest)
    bytes_fetched: int
    #: the rate limit the registry announced on the resolve, if it did
    rate_limit: RateLimit | None = None


def choose(
    index: Index, wanted: Sequence[Platform], *, all_platforms: bool, where: str
) -> list[Descriptor]:
    """The index entries to pull: the best match per wanted platform, or all of them.

    Raises :class:`PlatformNotFound` naming the wanted platform and listing what the
    index offers when a wanted platform has no match.
    """
    if all_platforms:
        return _unique(index.manifests)
    candidates = [d for d in index.manifests if not d.is_attestation]
    chosen: list[Descriptor] = []
    for want in wanted:
        best = platforms.best_first(want, candidates)
        if not best:
            raise platforms.no_match(
                where, want, (d.platform for d in candidates), "use --all-platforms"
            )
        chosen.append(best[0])
    return _unique(chosen)


def _unique(descs: Iterable[Descriptor]) -> list[Descriptor]:
    seen: dict[str, Descriptor] = {}
    for d in descs:
        seen.setdefault(str(d.digest), d)
    return list(seen.values())


class _Walk:
    """One pull's state: counters, a serialized reporter, a stop flag for the workers."""

    def __init__(
        self, ref: Reference, client: Client, store: Store, options: PullOptions, report: Reporter
    ) -> None:
        self.ref = ref
        self.client = client
        self.store = store
        self.options = options
        self._report = report
        self._lock = threading.Lock()
        self.stop = threading.Event()
        self.fetched = 0
        self.existing = 0
        self.bytes_fetched = 0

    def report(self, event: Event) -> None:
        # Workers report from their threads; reporters need not be thread-safe.
        with self._lock:
            self._report(event)

    def count(self, *, fetched: int = 0, existing: int = 0, nbytes: int = 0) -> None:
        with self._lock:
            self.fetched += fetched
            self.existing += existing
            self.bytes_fetched += nbytes

    # --- documents (index, manifest): small, fetched in the calling thread ---------------

    def document(self, desc: Descriptor) -> Manifest | Index:
        """The parsed index or manifest for ``desc``: from the store, or GET by digest."""
        key = desc.key
        if self.store.content.has(desc):
            body = self.store.content.read(desc.digest)
            self.count(existing=1)
            self.report(Event(key, Status.EXISTS, desc.size, desc.size))
        else:
            self.report(Event(key, Status.DOWNLOADING, 0, desc.size))
            body = self.client.fetch_manifest(self.ref, desc)
            self.store.content.put(desc, body)
            self.count(fetched=1, nbytes=len(body))
            self.report(Event(key, Status.DONE, desc.size, desc.size))
        return parse(body, desc.media_type)

    def manifest(self, desc: Descriptor) -> Manifest:
        doc = self.document(desc)
        if not isinstance(doc, Manifest):
            raise InvalidManifest(
                f"{self.ref}: {desc.digest} is listed as an image manifest but is an index"
            )
        return doc

    # --- blobs (config, layers): streamed, several at a time ------------------------------

    def blobs(self, descs: Sequence[Descriptor]) -> None:
        missing: list[Descriptor] = []
        for desc in descs:
            if self.store.content.has(desc):
                self.count(existing=1)
                self.report(Event(desc.key, Status.EXISTS, desc.size, desc.size))
            else:
                missing.append(desc)
                self.report(Event(desc.key, Status.WAITING, 0, desc.size))
        if not missing:
            return
        workers = min(self.options.max_concurrent_downloads, len(missing))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ctrpy-download")
        futures: list[Future[None]] = []
        try:
            futures = [pool.submit(self.download, desc) for desc in missing]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in futures:
                if future in done:
                    future.result()  # re-raises the first worker's error
        finally:
            # On an error or Ctrl-C: tell running downloads to stop at their next chunk
            # (their partial data stays, resumable) and drop the queued ones.
            if any(not f.done() for f in futures):
                self.stop.set()
            pool.shutdown(wait=True, cancel_futures=True)

    def download(self, desc: Descriptor) -> None:
        if self.stop.is_set():
            return
        key, total = desc.key, desc.size
        with self.store.content.writer(desc) as writer:
            if writer.exists:  # another process committed it while we waited for the lock
                self.count(existing=1)
                self.report(Event(key, Status.EXISTS, total, total))
                return
            start = offset = writer.offset
            self.report(Event(key, Status.DOWNLOADING, offset, total))
            if offset < total:
                chunks = self.client.fetch_blob(self.ref, desc, offset=offset)
                for block in blocks(chunks, stop=self.stop):
                    writer.write(block)
                    offset += len(block)
                    self.report(Event(key, Status.DOWNLOADING, offset, total))
            writer.commit()
        self.count(fetched=1, nbytes=offset - start)
        self.report(Event(key, Status.DONE, total, total))


def blocks(
    chunks: Iterator[bytes], size: int = BLOCK_SIZE, *, stop: threading.Event | None = None
) -> Iterator[bytes | memoryview]:
    """``chunks`` gathered into blocks of ``size`` bytes (the last one shorter), one copy each.

    A block is a view of one reused buffer: use it before asking for the next.  When
    ``chunks`` fails, the bytes it gave before the failure still come out as a last block,
    then the error is raised, so a partial download keeps every byte that arrived.  Once
    ``stop`` is set, the same happens at the next chunk with :class:`_Stopped`: a stopped
    pull ends after one more chunk, not after filling a block (seconds on a slow link).
    """
    buffer = bytearray(size)
    view = memoryview(buffer)
    filled = 0
    try:
        for chunk in chunks:
            n = len(chunk)
            if filled + n > size and filled:
                yield view[:filled]
                filled = 0
            if n >= size:
                yield chunk
            else:
                view[filled : filled + n] = chunk
                filled += n
                if filled == size:
                    yield view
                    filled = 0
            if stop is not None and stop.is_set():
                raise _Stopped
    except Exception:
        if filled:
            yield view[:filled]
        raise
    if filled:
        yield view[:filled]


class _Stopped(Exception):
    """Raised inside a worker to leave its writer (keeping the partial) when the pull stops."""


def pull(
    ref: Reference, client: Client, store: Store, options: PullOptions, report: Reporter
) -> PullResult:
    """Pull ``ref`` into ``store``, fetching only what the store does not have.

    A tag costs one HEAD when everything is stored; a digest reference whose content is
    all stored costs no request at all.  The name (``str(ref)``, tag ``latest`` added when
    the reference has neither tag nor digest) is recorded only when everything chosen is
    stored.
    """
    ref = ref.with_default_tag()
    name = str(ref)
    walk = _Walk(ref, client, store, options, report)
    walk.report(Event(name, Status.RESOLVING))
    rate_limit: RateLimit | None = None
    target = _stored_target(ref, store)
    if target is None:
        resolved = client.resolve(ref)
        target, rate_limit = resolved.descriptor, resolved.rate_limit
    walk.report(Event(name, Status.RESOLVED))
    if target.kind not in ("index", "manifest"):
        raise InvalidManifest(
            f"{name}: resolved to {target.media_type!r}, which is neither an index nor a manifest"
        )
    # The lease keeps a concurrent `prune` from collecting what we store before the name is.
    with store.lease():
        top = walk.document(target)
        if isinstance(top, Index):
            wanted = options.platforms or (platforms.host(),)
            manifests = _image_manifests(walk, top, wanted, set(), depth=1)
        else:
            manifests = [(target, top)]
        walk.blobs(_unique(blob for _, m in manifests for blob in (m.config, *m.layers)))
        store.images.put(name, target)
    return PullResult(
        name=name,
        target=target,
        manifests=tuple(desc for desc, _ in manifests),
        fetched=walk.fetched,
        existing=walk.existing,
        bytes_fetched=walk.bytes_fetched,
        rate_limit=rate_limit,
    )


def _image_manifests(
    walk: _Walk, index: Index, wanted: Sequence[Platform], seen: set[Digest], *, depth: int
) -> list[tuple[Descriptor, Manifest]]:
    """The image manifests to pull from ``index``, each once.  An entry that is itself an
    index (the image spec allows nesting) is walked the same way, for the wanted platforms its
    entry matches, so no name is recorded for an image whose manifests were never fetched."""
    all_platforms = walk.options.all_platforms
    found: list[tuple[Descriptor, Manifest]] = []
    for desc in choose(index, wanted, all_platforms=all_platforms, where=str(walk.ref)):
        if desc.digest in seen:
            continue
        seen.add(desc.digest)
        if desc.kind != "index":
            found.append((desc, walk.manifest(desc)))
            continue
        if depth >= MAX_INDEX_DEPTH:
            raise InvalidManifest(
                f"{walk.ref}: indexes nested more than {MAX_INDEX_DEPTH} deep ({desc.digest})"
            )
        nested = walk.document(desc)
        if not isinstance(nested, Index):
            raise InvalidManifest(f"{walk.ref}: {desc.digest} is listed as an index but is not one")
        inner = [w for w in wanted if desc.platform and platforms.matches(w, desc.platform)]
        found += _image_manifests(
            walk, nested, wanted if all_platforms else inner, seen, depth=depth + 1
        )
    return found


def _stored_target(ref: Reference, store: Store) -> Descriptor | None:
    """For a digest reference: the descriptor of the stored object, so no request is needed."""
    if ref.digest is None:
        return None
    size = store.content.size(ref.digest)
    if size is None:
        return None
    if size > MAX_MANIFEST_SIZE:  # a layer's digest, say: do not read it all to find out
        raise InvalidManifest(
            f"{ref}: the stored object {ref.digest} is {size} bytes, too big for an index "
            "or manifest (a layer or config digest?)",
            hint="pull by the digest of the image's index or manifest (ctrpy image ls shows it)",
        )
    body = store.content.read(ref.digest)
    doc = parse(body, None)
    return Descriptor(media_type=doc.media_type, digest=ref.digest, size=size)
