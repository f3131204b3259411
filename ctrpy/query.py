"""Questions about images: what the store holds (list, inspect) and what a registry says
(remote digest by HEAD, up-to-date check).  Nothing here prints; the CLI renders results.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ctrpy.errors import InvalidReference, NotFound
from ctrpy.oci import platforms, reference
from ctrpy.oci.descriptor import Descriptor, Index, Manifest, Platform, parse
from ctrpy.oci.digest import Digest
from ctrpy.oci.reference import Reference
from ctrpy.store import ImageRecord, Store

if TYPE_CHECKING:  # the registry client pulls in httpx: not needed by `ls` and `inspect`
    from ctrpy.registry.client import Client, RateLimit

# --- local: list and inspect --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImageSummary:
    """One row of ``ctrpy image ls``."""

    name: str
    #: "index" or "manifest" (or another kind when the record points somewhere odd)
    kind: str
    target: Descriptor
    #: bytes stored for this image: its index, manifests, configs and layers that are present
    size: int
    #: platforms of the image: the index's entries (attestations left out), or the config's
    platforms: tuple[Platform, ...]
    #: annotations of the top document
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Node:
    """A stored object and what it points at, as far as the store has it."""

    descriptor: Descriptor
    present: bool
    #: the parsed JSON of an index, manifest or config that is present (None otherwise)
    document: Any = None
    children: tuple[Node, ...] = ()

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True, slots=True)
class ImageTree:
    name: str
    root: Node

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, **_node_json(self.root)}


def _node_json(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"descriptor": node.descriptor.to_json(), "present": node.present}
    if node.document is not None:
        out["document"] = node.document
    if node.children:
        out["children"] = [_node_json(child) for child in node.children]
    return out


def image_name(text: str) -> str:
    """The stored name for what the user typed: ``hello-world`` ->
    ``docker.io/library/hello-world:latest``."""
    return str(reference.parse(text).with_default_tag())


def lookup(store: Store, text: str) -> ImageRecord:
    """The record for ``text`` (a short or full name); :class:`NotFound` when not stored."""
    record = store.images.get(text)
    if record is None:
        try:
            record = store.images.get(image_name(text))
        except InvalidReference:
            record = None
    if record is None:
        raise NotFound(
            f"image {text} is not in the store",
            hint="see what is there with 'ctrpy image ls', or pull it with 'ctrpy image pull'",
        )
    return record


def tree(store: Store, record: ImageRecord, platform: Platform | None = None) -> ImageTree:
    """The record's objects, index -> manifests -> config and layers, each present or not.

    With ``platform``, an index shows only its entries for that platform.
    """
    root = _node(store, record.target)
    if platform is not None and isinstance(_parsed(store, record.target), Index):
        kept = tuple(
            c
            for c in root.children
            if c.descriptor.platform is not None
            and platforms.matches(platform, c.descriptor.platform)
        )
        if not kept:
            offered = (
                c.descriptor.platform for c in root.children if not c.descriptor.is_attestation
            )
            raise platforms.no_match(record.name, platform, offered)
        root = Node(root.descriptor, root.present, root.document, kept)
    return ImageTree(record.name, root)


def list_images(store: Store, patterns: Sequence[str] = ()) -> list[ImageSummary]:
    """Stored images, sorted by name; ``patterns`` are shell globs on the full or short name."""
    rows = []
    for record in sorted(store.images.list(), key=lambda r: r.name):
        if patterns and not _matches(record.name, patterns):
            continue
        rows.append(summarize(store, record))
    return rows


def summarize(store: Store, record: ImageRecord) -> ImageSummary:
    root = _node(store, record.target)
    seen: dict[Digest, int] = {}
    for node in root.walk():
        if node.present:
            seen[node.descriptor.digest] = node.descriptor.size
    doc = _parsed(store, record.target)
    labels: Mapping[str, str] = {} if doc is None else doc.annotations
    return ImageSummary(
        name=record.name,
        kind=record.target.kind,
        target=record.target,
        size=sum(seen.values()),
        platforms=_platforms(root),
        labels=dict(labels),
    )


def _platforms(root: Node) -> tuple[Platform, ...]:
    if root.descriptor.kind == "index":
        found = [
            c.descriptor.platform
            for c in root.children
            if c.descriptor.platform is not None and not c.descriptor.is_attestation
        ]
        return tuple(dict.fromkeys(found))
    for child in root.children:
        if child.descriptor.kind == "config" and isinstance(child.document, dict):
            p = _config_platform(child.document)
            if p is not None:
                return (p,)
    return ()


def _config_platform(config: Mapping[str, Any]) -> Platform | None:
    os_, arch = config.get("os"), config.get("architecture")
    if not isinstance(os_, str) or not isinstance(arch, str) or not os_ or not arch:
        return None
    variant = config.get("variant")
    return Platform(os_, arch, variant if isinstance(variant, str) and variant else None)


def _matches(name: str, patterns: Sequence[str]) -> bool:
    candidates = [name]
    with contextlib.suppress(InvalidReference):
        candidates.append(reference.parse(name).familiar)
    return any(fnmatch.fnmatchcase(c, p) for c in candidates for p in patterns)


def _node(store: Store, desc: Descriptor) -> Node:
    if not store.content.has(desc):
        return Node(desc, present=False)
    if desc.kind not in ("index", "manifest", "config"):
        return Node(desc, present=True)
    body = store.content.read(desc.digest)
    try:
        document = json.loads(body)
    except ValueError:
        return Node(desc, present=True)
    if desc.kind == "config":
        return Node(desc, present=True, document=document)
    parsed = parse(body, desc.media_type)
    if isinstance(parsed, Index):
        children = tuple(_node(store, d) for d in parsed.manifests)
    else:
        children = tuple(_node(store, d) for d in (parsed.config, *parsed.layers))
    return Node(desc, present=True, document=document, children=children)


def _parsed(store: Store, desc: Descriptor) -> Manifest | Index | None:
    if desc.kind not in ("index", "manifest") or not store.content.has(desc):
        return None
    return parse(store.content.read(desc.digest), desc.media_type)


# --- remote: digest and check -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemoteDigest:
    """What ``ctrpy image digest`` found."""

    name: str
    #: the tag's current top object (index or manifest), from one HEAD
    target: Descriptor
    #: the digest asked for: the platform's manifest with ``platform``, else the target's
    digest: Digest
    rate_limit: RateLimit | None = None
    #: True when the index had to be fetched by GET (a counted pull on Docker Hub)
    fetched_index: bool = False
    #: with a platform: the index's entry for that platform's manifest (digest == .digest)
    manifest: Descriptor | None = None

    @property
    def descriptor(self) -> Descriptor:
        """The descriptor of what ``digest`` names: the platform's manifest, else the target."""
        return self.manifest if self.manifest is not None else self.target


def remote_digest(
    client: Client, store: Store, ref: Reference, platform: Platform | None = None
) -> RemoteDigest:
    """The current digest of ``ref`` by HEAD; with ``platform``, that platform's manifest.

    The platform needs the index: the stored copy when the digest matches (no request),
    otherwise one GET by digest, whose body is then stored so the next time is free.
    """
    ref = ref.with_default_tag()
    resolved = client.resolve(ref)
    target = resolved.descriptor
    if platform is None or target.kind != "index":
        return RemoteDigest(str(ref), target, target.digest, resolved.rate_limit)
    fetched = False
    if store.content.has(target):
        body = store.content.read(target.digest)
    else:
        body = client.fetch_manifest(ref, target)
        store.content.put(target, body)
        fetched = True
    index = parse(body, target.media_type)
    entries = index.manifests if isinstance(index, Index) else ()
    candidates = [d for d in entries if not d.is_attestation]
    best = platforms.best_first(platform, candidates)
    if not best:
        raise platforms.no_match(str(ref), platform, (d.platform for d in candidates))
    return RemoteDigest(str(ref), target, best[0].digest, resolved.rate_limit, fetched, best[0])


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The stored record of a tag against its current remote digest."""

    name: str
    stored: Digest | None
    remote: Digest
    rate_limit: RateLimit | None = None

    @property
    def up_to_date(self) -> bool:
        return self.stored == self.remote

    def describe(self) -> str:
        if self.stored is None:
            return f"not stored (remote {self.remote})"
        if self.up_to_date:
            return "up to date"
        return f"stale (stored {self.stored}, remote {self.remote})"


def check(client: Client, store: Store, ref: Reference) -> CheckResult:
    """Compare the stored record for ``ref`` with the registry's current digest (one HEAD)."""
    ref = ref.with_default_tag()
    record = store.images.get(str(ref))
    resolved = client.resolve(ref)
    return CheckResult(
        name=str(ref),
        stored=None if record is None else record.target.digest,
        remote=resolved.descriptor.digest,
        rate_limit=resolved.rate_limit,
    )
