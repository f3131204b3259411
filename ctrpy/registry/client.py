"""The registry client: resolve a tag with one HEAD, fetch manifests by digest, stream blobs.

Everything ctrpy says to a registry goes through :class:`Client`.  For each request it
takes the hosts :func:`ctrpy.registry.hosts.hosts_for` lists for the reference's registry
(mirrors first, the upstream last), uses the first one with the needed capability
(``resolve`` for HEAD and tag lookups, ``pull`` for fetches by digest) and falls back to
the next one, with one WARNING per host, when a host cannot be reached, fails with 5xx, or
(for a mirror) lacks the content or refuses us.

Per host it answers auth challenges (:mod:`ctrpy.registry.auth`), retries connection
errors, resets, truncated bodies, 408 and 5xx with exponential backoff and jitter, waits
once for a short ``Retry-After`` on 429, and turns every other failure into a
:mod:`ctrpy.errors` error naming the host, the repository and the object.

One :class:`httpx.Client` per TLS setting (keep-alive, shared by all threads); a Client is
safe to use from several threads at once.
"""

from __future__ import annotations

import json
import logging
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import httpx

from ctrpy import __version__
from ctrpy.errors import (
    AuthError,
    ConfigError,
    CtrpyError,
    IntegrityError,
    InvalidDigest,
    InvalidManifest,
    NetworkError,
    NotFound,
    RegistryError,
)
from ctrpy.oci import mediatypes
from ctrpy.oci.descriptor import MAX_MANIFEST_SIZE, Descriptor
from ctrpy.oci.digest import Digest, verify_bytes
from ctrpy.oci.reference import Reference
from ctrpy.registry import hosts as hostsmod
from ctrpy.registry import ratelimit, statuses, transport
from ctrpy.registry.auth import Authenticator
from ctrpy.registry.credentials import CredentialStore
from ctrpy.registry.hosts import Host
from ctrpy.registry.ratelimit import RateLimit
from ctrpy.registry.statuses import RegistryRateLimited

__all__ = ["Client", "ClientOptions", "RateLimit", "RegistryRateLimited", "Resolved"]

log = logging.getLogger("ctrpy.registry")

USER_AGENT = f"ctrpy/{__version__}"
#: a broken blob stream is resumed at most this many times in all
MAX_RESUMES = 50
#: the longest single backoff delay (seconds)
MAX_BACKOFF = 10.0

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")

T = TypeVar("T")


@dataclass(frozen=True)
class ClientOptions:
    """How to reach registries.  ``user``/``password`` come from ``--user`` (the CLI prompts)."""

    plain_http: bool = False
    skip_verify: bool = False
    ca_file: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    hosts_dir: Path | None = None
    mirrors: tuple[str, ...] = ()
    docker_config: Path | None = None  # None -> $DOCKER_CONFIG or ~/.docker
    timeout: float = 30.0
    #: extra attempts after a transient failure (connection error, reset, 408, 5xx)
    retries: int = 3
    #: first backoff delay in seconds; doubles per attempt, with jitter
    backoff: float = 0.5
    #: a 429 whose Retry-After is at most this many seconds is waited out (once)
    max_retry_after: float = 5.0


@dataclass(frozen=True)
class Resolved:
    """What a reference resolved to, where, and the rate limit announced on the way."""

    descriptor: Descriptor
    host: str
    rate_limit: RateLimit | None


class _HostFailure(Exception):
    """A request to one host failed; ``fallback`` says whether the next host may help."""

    def __init__(
        self, error: CtrpyError, *, fallback: bool, status: int | None = None, down: bool = False
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.fallback = fallback
        self.status = status
        self.down = down


class _Truncated(Exception):
    pass


def _label(host: Host) -> str:
    return f"{host.url} (mirror)" if host.is_mirror else host.url


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    kind = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({kind})"
    if "refused" in text.lower():
        return "connection refused"
    return f"{kind}: {text[:200]}" if text else kind


class Client:
    """Talks to registries for one run.  A context manager; thread-safe."""

    def __init__(self, options: ClientOptions = ClientOptions()) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._http: dict[tuple[bool, tuple[str, ...]], httpx.Client] = {}
        self._hosts: dict[str, list[Host]] = {}
        self._down: set[str] = set()
        self._warned: set[str] = set()
        self._rate_limit: RateLimit | None = None
        self._rate_warned = False
        self._bodies: dict[Digest, bytes] = {}
        self._auth = Authenticator(
            CredentialStore(options.user, options.password, options.docker_config)
        )
        self._closed = False

    # --- lifecycle -----------------------------------------------------------------

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            clients = list(self._http.values())
            self._http.clear()
            self._closed = True
        for c in clients:
            c.close()

    @property
    def rate_limit(self) -> RateLimit | None:
        """The last rate limit a registry announced to this client, if any."""
        with self._lock:
            return self._rate_limit

    # --- the API ---------------------------------------------------------------------

    def resolve(self, ref: Reference) -> Resolved:
        """The descriptor ``ref`` names: one HEAD (GET and hash only when HEAD cannot tell)."""
        ref = ref.with_default_tag()
        return self._on_hosts(
            ref, hostsmod.RESOLVE, lambda host, has_next: self._resolve_on(ref, host, has_next)
        )

    def fetch_manifest(self, ref: Reference, desc: Descriptor) -> bytes:
        """The manifest or index ``desc`` names, fetched by digest and verified (<= 4 MiB)."""
        if desc.size > MAX_MANIFEST_SIZE:
            raise InvalidManifest(
                f"manifest {desc.digest} of {ref.name} is {desc.size} bytes, more than the "
                f"{MAX_MANIFEST_SIZE} bytes allowed"
            )
        with self._lock:
            cached = self._bodies.pop(desc.digest, None)
        if cached is not None:
            verify_bytes(cached, desc.digest, desc.size, what=f"manifest of {ref.name}")
            return cached
        accept = ", ".join(dict.fromkeys([desc.media_type, mediatypes.MANIFEST_ACCEPT]))

        def on(host: Host, has_next: bool) -> bytes:
            what = f"fetching {_kind(desc)} {desc.digest} of {ref.name} from {host.url}"
            _, body = self._get_bytes(
                ref,
                host,
                f"manifests/{desc.digest}",
                what,
                {"Accept": accept},
                MAX_MANIFEST_SIZE,
                has_next=has_next,
            )
            verify_bytes(body, desc.digest, desc.size, what=f"{_kind(desc)} from {host.url}")
            return body

        return self._on_hosts(ref, hostsmod.PULL, on)

    def fetch_blob(self, ref: Reference, desc: Descriptor, offset: int = 0) -> Iterator[bytes]:
        """The blob's bytes from ``offset`` on, in chunks; resumes a broken stream itself.

        The digest is not verified here (the store's writer does that); more bytes than
        ``desc.size`` is an :class:`IntegrityError`.
        """
        if offset < 0 or offset > desc.size:
            raise ValueError(f"offset {offset} outside blob of {desc.size} bytes")
        return self._blob(ref, desc, offset)

    # --- hosts -------------------------------------------------------------------------

    def _hosts_for(self, registry: str, capability: str) -> list[Host]:
        with self._lock:
            known = self._hosts.get(registry)
        if known is None:
            o = self.options
            known = hostsmod.hosts_for(
                registry,
                hosts_dir=o.hosts_dir,
                mirrors=o.mirrors,
                plain_http=o.plain_http,
                skip_verify=o.skip_verify,
                ca_file=o.ca_file,
            )
            with self._lock:
                self._hosts[registry] = known
        usable = [h for h in known if h.can(capability)]
        if not usable:
            raise ConfigError(
                f"no host configured for {registry} has the {capability!r} capability",
                hint="check the capabilities in its hosts.toml",
            )
        return usable

    def _on_hosts(self, ref: Reference, capability: str, fn: Callable[[Host, bool], T]) -> T:
        """``fn(host, has_next)`` on the first host that answers; ``has_next`` tells it
        whether a fallback host follows (then transient failures are retried less)."""
        hosts = self._hosts_for(ref.domain, capability)
        for i, host in enumerate(hosts):
            last = i == len(hosts) - 1
            with self._lock:
                down = host.url in self._down
            if down and not last:
                continue
            try:
                return fn(host, not last)
            except _HostFailure as failure:
                if last or not failure.fallback:
                    raise failure.error from None
                self._fall_back(host, hosts[i + 1], failure)
        raise AssertionError("unreachable: the last host raises")  # pragma: no cover

    def _fall_back(self, host: Host, nxt: Host, failure: _HostFailure) -> None:
        with self._lock:
            if failure.down:
                self._down.add(host.url)
            first = host.url not in self._warned
            self._warned.add(host.url)
        if first:
            kind = "mirror" if host.is_mirror else "host"
            log.warning(
                "%s %s failed (%s); falling back to %s", kind, host.url, failure.error, nxt.url
            )

    def _http_for(self, host: Host) -> httpx.Client:
        key = (host.skip_verify, host.ca)
        with self._lock:
            if self._closed:
                raise RegistryError("the registry client is closed")
            client = self._http.get(key)
            if client is None:
                limits = httpx.Limits(
                    max_connections=64, max_keepalive_connections=16, keepalive_expiry=30.0
                )
                client = httpx.Client(
                    headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
                    timeout=httpx.Timeout(
                        self.options.timeout, connect=min(self.options.timeout, 10)
                    ),
                    follow_redirects=False,
                    # TLS set-up (loading the CA bundle) costs ~100 ms: only pay it when an
                    # https:// URL is actually requested.  Plain http:// never uses TLS.
                    transport=_LazyTransport(
                        lambda: httpx.HTTPTransport(verify=_verify(host), limits=limits)
                    ),
                    mounts={"http://": httpx.HTTPTransport(verify=False, limits=limits)},
                )
                self._http[key] = client
            return client

    # --- one request to one host --------------------------------------------------------

    def _delay(self, attempt: int) -> float:
        base = self.options.backoff * (2**attempt)
        return float(min(MAX_BACKOFF, base * random.uniform(0.5, 1.0)))

    def _open(
        self,
        ref: Reference,
        host: Host,
        method: str,
        suffix: str,
        what: str,
        headers: dict[str, str],
        *,
        has_next: bool,
    ) -> httpx.Response:
        """A successful (2xx) streamed response from ``host``, or :class:`_HostFailure`.

        Auth, redirects, retries of transient failures and the 429 wait happen here.
        """
        http = self._http_for(host)
        url = f"{host.url}{host.path}/{ref.path}/{suffix}"
        if host.is_mirror:
            url += "?" + str(httpx.QueryParams({"ns": ref.domain}))
        extra = [(k, v) for k, values in host.headers.items() for v in values]
        retries = min(self.options.retries, 1) if has_next else self.options.retries
        try:
            authorization = self._auth.authorization(http, host.url, host.authority, ref.path)
        except CtrpyError as exc:
            raise _HostFailure(exc, fallback=host.is_mirror) from None
        attempt = 0
        challenged = waited = False
        while True:
            sent = dict(headers)
            if authorization:
                sent["Authorization"] = authorization
            try:
                response = transport.send(http, method, url, sent, label=_label(host), extra=extra)
            except httpx.TransportError as exc:
                connect = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if attempt < retries and not (connect and has_next):
                    time.sleep(self._delay(attempt))
                    attempt += 1
                    continue
                raise _HostFailure(
                    NetworkError(
                        f"{what}: cannot reach {host.url}: {_describe(exc)}",
                        hint="check the network, the registry address and any proxy settings",
                    ),
                    fallback=True,
                    down=connect,
                ) from None
            self._note_rate_limit(response.headers, host)
            status = response.status_code
            if 200 <= status < 300:
                return response
            if status == 401 and not challenged and "www-authenticate" in response.headers:
                response.close()
                challenged = True
                try:
                    authorization = self._auth.challenged(
                        http, host.url, host.authority, ref.path, response, authorization, what
                    )
                except CtrpyError as exc:
                    raise _HostFailure(exc, fallback=host.is_mirror, status=401) from None
                continue
            if status == 429:
                response.close()
                wait = ratelimit.retry_after(response.headers.get("retry-after"))
                if not waited and wait is not None and wait <= self.options.max_retry_after:
                    log.warning(
                        "%s is rate limiting requests; retrying once in %.1f s", host.url, wait
                    )
                    waited = True
                    time.sleep(wait)
                    continue
                raise _HostFailure(
                    statuses.rate_limited(
                        what,
                        host.url,
                        ratelimit.parse(response.headers),
                        wait,
                        docker_hub=ref.domain == "docker.io" and not host.is_mirror,
                    ),
                    fallback=False,
                    status=429,
                )
            if status == 401 and challenged and authorization:
                response.close()
                refused = self._auth.refused(host.authority, what)
                raise _HostFailure(refused, fallback=host.is_mirror, status=401)
            body = None if method == "HEAD" else _read_error_body(response)
            response.close()
            if (status == 408 or status >= 500) and attempt < retries:
                time.sleep(self._delay(attempt))
                attempt += 1
                continue
            error = statuses.error_for(status, body, what, self._auth.scrub)
            fallback = (
                status == 408
                or status >= 500
                or (host.is_mirror and isinstance(error, NotFound | AuthError))
            )
            raise _HostFailure(error, fallback=fallback, status=status)

    def _get_bytes(
        self,
        ref: Reference,
        host: Host,
        suffix: str,
        what: str,
        headers: dict[str, str],
        limit: int,
        *,
        has_next: bool,
    ) -> tuple[httpx.Headers, bytes]:
        """GET a small document (a manifest) whole, at most ``limit`` bytes (else an error)."""
        attempt = 0
        while True:
            response = self._open(ref, host, "GET", suffix, what, headers, has_next=has_next)
            try:
                length = response.headers.get("content-length")
                if length and length.isdigit() and int(length) > limit:
                    raise _too_big(what, limit)
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise _too_big(what, limit)
                return response.headers, bytes(body)
            except httpx.DecodingError as exc:
                raise _undecodable(what, response, exc) from None
            except httpx.TransportError as exc:
                if attempt >= self.options.retries:
                    raise _HostFailure(
                        NetworkError(f"{what}: the connection broke: {_describe(exc)}"),
                        fallback=True,
                    ) from None
                time.sleep(self._delay(attempt))
                attempt += 1
            finally:
                response.close()

    # --- resolve ----------------------------------------------------------------------

    def _resolve_on(self, ref: Reference, host: Host, has_next: bool) -> Resolved:
        what = f"resolving {ref} at {host.url}"
        headers = {"Accept": mediatypes.MANIFEST_ACCEPT}
        suffix = f"manifests/{ref.object}"
        try:
            response = self._open(ref, host, "HEAD", suffix, what, headers, has_next=has_next)
        except _HostFailure as failure:
            if failure.status == 405 and ref.digest is None:
                log.debug("%s answers 405 to HEAD; resolving with GET", host.url)
                return self._resolve_by_get(ref, host, what, has_next)
            if failure.status == 405:
                raise _HostFailure(
                    RegistryError(
                        f"{what}: 405 the registry does not allow HEAD on manifests, and a "
                        "digest reference is resolved by HEAD only"
                    ),
                    fallback=True,
                    status=405,
                ) from None
            raise
        response.close()
        rate = ratelimit.parse(response.headers)
        digest = _digest_header(response.headers)
        media_type = mediatypes.base(response.headers.get("content-type", ""))
        length = response.headers.get("content-length", "")
        size = int(length) if length.isdigit() else None
        usable_type = mediatypes.kind(media_type) in ("index", "manifest")
        if ref.digest is not None:
            if digest is not None and digest != ref.digest:
                raise IntegrityError(
                    f"{what}: the registry answered with digest {digest}, not {ref.digest}"
                )
            if size is None or not usable_type:
                lacks = (
                    "a Content-Length"
                    if size is None
                    else f"a manifest Content-Type (got {media_type or 'none'!r})"
                )
                raise _HostFailure(
                    RegistryError(f"{what}: the registry's HEAD response lacks {lacks}"),
                    fallback=True,
                )
            desc = Descriptor(media_type, ref.digest, size)
            return Resolved(desc, host.url, rate)
        if digest is None or size is None or not usable_type:
            log.debug(
                "%s: HEAD did not say the digest, size and type of %s; resolving with GET",
                host.url,
                ref,
            )
            return self._resolve_by_get(ref, host, what, has_next)
        return Resolved(Descriptor(media_type, digest, size), host.url, rate)

    def _resolve_by_get(self, ref: Reference, host: Host, what: str, has_next: bool) -> Resolved:
        """Resolve a tag by GET and hash (a digest reference is resolved by HEAD only)."""
        headers, body = self._get_bytes(
            ref,
            host,
            f"manifests/{ref.object}",
            what,
            {"Accept": mediatypes.MANIFEST_ACCEPT},
            MAX_MANIFEST_SIZE,
            has_next=has_next,
        )
        claimed = _digest_header(headers)
        digest = Digest.of(body, claimed.algorithm if claimed else "sha256")
        if claimed is not None and claimed != digest:
            raise IntegrityError(
                f"{what}: the registry says the manifest is {claimed}, but it hashes to {digest}"
            )
        media_type = _media_type_of(body, headers.get("content-type", ""), what)
        with self._lock:
            if len(self._bodies) < 16:
                self._bodies[digest] = body
        return Resolved(
            Descriptor(media_type, digest, len(body)), host.url, ratelimit.parse(headers)
        )

    # --- blobs ------------------------------------------------------------------------

    def _blob(self, ref: Reference, desc: Descriptor, offset: int) -> Iterator[bytes]:
        position = offset
        hosts = self._hosts_for(ref.domain, hostsmod.PULL)
        with self._lock:
            index = next(
                (i for i, h in enumerate(hosts) if h.url not in self._down), len(hosts) - 1
            )
        failures = resumes = 0
        while position < desc.size:
            host = hosts[index]
            has_next = index < len(hosts) - 1
            what = f"fetching {_kind(desc)} {desc.digest} of {ref.name} from {host.url}"
            headers = {"Accept": "*/*"}
            if position:
                headers["Range"] = f"bytes={position}-"
            try:
                response = self._open(
                    ref, host, "GET", f"blobs/{desc.digest}", what, headers, has_next=has_next
                )
            except _HostFailure as failure:
                if not has_next or not failure.fallback:
                    raise failure.error from None
                self._fall_back(host, hosts[index + 1], failure)
                index += 1
                continue
            try:
                skip = _skip(response, position, what)
                # no chunk_size: what arrived is handed on at once, so a reset loses nothing
                for chunk in response.iter_bytes():
                    if skip:
                        if len(chunk) <= skip:
                            skip -= len(chunk)
                            continue
                        chunk = chunk[skip:]
                        skip = 0
                    if position + len(chunk) > desc.size:
                        raise IntegrityError(
                            f"{what}: the registry sent more than the {desc.size} bytes the "
                            "descriptor says",
                            hint="the registry or a proxy served different content",
                        )
                    position += len(chunk)
                    failures = 0
                    yield chunk
                if position < desc.size:
                    raise _Truncated()
            except httpx.DecodingError as exc:
                raise _undecodable(what, response, exc) from None
            except (httpx.TransportError, _Truncated) as exc:
                failures += 1
                resumes += 1
                reason = "the body ended early" if isinstance(exc, _Truncated) else _describe(exc)
                if failures > self.options.retries or resumes > MAX_RESUMES:
                    error = NetworkError(
                        f"{what}: the download broke at byte {position} of {desc.size} "
                        f"({reason}) and did not recover",
                        hint="run the pull again: it resumes where it stopped",
                    )
                    if not has_next:
                        raise error from None
                    self._fall_back(host, hosts[index + 1], _HostFailure(error, fallback=True))
                    index += 1
                    failures = 0
                    continue
                log.debug("%s: %s at byte %d of %d; resuming", what, reason, position, desc.size)
                time.sleep(self._delay(failures - 1))
            finally:
                response.close()

    # --- rate limits ----------------------------------------------------------------------

    def _note_rate_limit(self, headers: httpx.Headers, host: Host) -> None:
        rate = ratelimit.parse(headers)
        if rate is None:
            return
        with self._lock:
            self._rate_limit = rate
            warn = rate.low and not self._rate_warned
            self._rate_warned = self._rate_warned or warn
        if warn:
            log.warning("pull rate limit of %s nearly used up: %s", host.url, rate.describe())


# --- helpers ------------------------------------------------------------------------------


class _LazyTransport(httpx.BaseTransport):
    """A transport built on its first request (so an https transport's TLS context is only
    created when an https URL is used)."""

    def __init__(self, factory: Callable[[], httpx.BaseTransport]) -> None:
        self._factory = factory
        self._transport: httpx.BaseTransport | None = None
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            if self._transport is None:
                self._transport = self._factory()
            transport = self._transport
        return transport.handle_request(request)

    def close(self) -> None:
        with self._lock:
            if self._transport is not None:
                self._transport.close()


def _kind(desc: Descriptor) -> str:
    kind = desc.kind
    return "blob" if kind == "unknown" else kind


def _verify(host: Host) -> ssl.SSLContext | bool:
    if host.skip_verify:
        return False
    if not host.ca:
        return True
    context = ssl.create_default_context()
    for path in host.ca:
        try:
            context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load CA certificates from {path}: {exc}") from None
    return context


def _digest_header(headers: httpx.Headers) -> Digest | None:
    value = headers.get("docker-content-digest")
    if not value:
        return None
    try:
        return Digest.parse(value.strip())
    except InvalidDigest:
        log.debug("ignoring malformed Docker-Content-Digest %.100r", value)
        return None


def _media_type_of(body: bytes, content_type: str, what: str) -> str:
    declared = mediatypes.base(content_type)
    if mediatypes.kind(declared) in ("index", "manifest"):
        return declared
    try:
        inner = json.loads(body).get("mediaType")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError, RecursionError):
        inner = None
    if isinstance(inner, str) and mediatypes.kind(inner) in ("index", "manifest"):
        return mediatypes.base(inner)
    raise InvalidManifest(
        f"{what}: the registry served {declared or 'no content type'!r}, not an image "
        "manifest or index (schema 1 manifests are not supported)"
    )


def _read_error_body(response: httpx.Response) -> bytes | None:
    out = bytearray()
    try:
        for chunk in response.iter_bytes():
            out += chunk
            if len(out) >= statuses.MAX_ERROR_BODY:
                break
    except httpx.HTTPError:
        pass
    return bytes(out[: statuses.MAX_ERROR_BODY])


def _too_big(what: str, limit: int) -> InvalidManifest:
    return InvalidManifest(f"{what}: the manifest is larger than {limit} bytes")


def _undecodable(what: str, response: httpx.Response, exc: httpx.DecodingError) -> RegistryError:
    encoding = response.headers.get("content-encoding", "")
    return RegistryError(
        f"{what}: the body does not decode as its Content-Encoding {encoding[:40]!r} says "
        f"({str(exc)[:100]})",
        hint="the registry or a proxy in front of it is misconfigured",
    )


def _skip(response: httpx.Response, position: int, what: str) -> int:
    """How many leading bytes of ``response`` come before ``position``."""
    if response.status_code == 206:
        m = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
        # it must hold byte `position`: start at or before it (skip up to it), end after it
        if m is None or not int(m.group(1)) <= position <= int(m.group(2)):
            raise RegistryError(
                f"{what}: asked for bytes from {position} on, got a partial response for "
                f"{response.headers.get('content-range', 'an unstated range')!r}"
            )
        return position - int(m.group(1))
    if position:
        log.debug("%s: the server ignored Range; skipping %d bytes", what, position)
    return position
