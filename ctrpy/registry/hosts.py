"""Which hosts serve a registry: containerd's hosts directory format (``hosts.toml``).

The same files serve containerd and ctrpy (containerd's ``docs/hosts.md``)::

    <hosts-dir>/docker.io/hosts.toml

    server = "https://registry-1.docker.io"      # the upstream, tried last

    [host."http://mirror.internal:5000"]         # tried first, in file order
      capabilities = ["pull", "resolve"]
      ca = "mirror.crt"                          # relative to this file's directory
      skip_verify = false
      override_path = false
      [host."http://mirror.internal:5000".header]
        x-custom = ["a", "b"]

:func:`hosts_for` turns a registry name into the ordered list of :class:`Host` endpoints to
try: ``--mirror`` URLs first, then the ``[host."..."]`` tables in file order, then the
``server`` (or the registry's default upstream when there is none).  It reads files and
nothing else: no network, no TLS objects; the registry client builds those from the values.

Where containerd's code and this module differ (on purpose, each a corner containerd gets
wrong or ignores), the difference is noted where it happens.
"""

from __future__ import annotations

import ipaddress
import logging
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from ctrpy.errors import ConfigError

__all__ = [
    "ALL_CAPABILITIES",
    "DOCKER_HUB_HOST",
    "MIRROR_CAPABILITIES",
    "PULL",
    "PUSH",
    "RESOLVE",
    "SYSTEM_HOSTS_DIR",
    "Host",
    "default_hosts_dir",
    "host_dir_candidates",
    "hosts_for",
    "is_loopback",
    "parse_hosts_toml",
]

log = logging.getLogger("ctrpy.registry.hosts")

PULL = "pull"
RESOLVE = "resolve"
PUSH = "push"
ALL_CAPABILITIES: frozenset[str] = frozenset({PULL, RESOLVE, PUSH})
MIRROR_CAPABILITIES: frozenset[str] = frozenset({PULL, RESOLVE})
# containerd 2.1 added "referrers"; a file written for it must still load here.
_KNOWN_CAPABILITIES = (PULL, RESOLVE, PUSH, "referrers")

DOCKER_HUB = "docker.io"
DOCKER_HUB_HOST = "registry-1.docker.io"
SYSTEM_HOSTS_DIR = Path("/etc/containerd/certs.d")
HOSTS_FILE = "hosts.toml"
DEFAULT_DIR = "_default"
API_PATH = "/v2"


def _no_headers() -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Host:
    """One endpoint that can serve a registry's content.

    ``url`` is scheme and authority only (``http://127.0.0.1:5000``); requests go to
    ``url + path + "/<name>/manifests/<ref>"``.  ``is_mirror`` is True when this host is not
    the registry itself, so requests to it carry ``?ns=<registry>`` as containerd sends them.
    """

    url: str
    path: str = API_PATH
    capabilities: frozenset[str] = ALL_CAPABILITIES
    skip_verify: bool = False
    ca: tuple[str, ...] = ()
    headers: Mapping[str, tuple[str, ...]] = field(default_factory=_no_headers, hash=False)
    is_mirror: bool = False

    @property
    def base_url(self) -> str:
        """``url`` + ``path``: the API root, e.g. ``https://registry-1.docker.io/v2``."""
        return self.url + self.path

    @property
    def authority(self) -> str:
        """``host[:port]`` of ``url``."""
        return self.url.split("://", 1)[1]

    def can(self, capability: str) -> bool:
        """Whether this host may be used for ``capability`` (``pull``, ``resolve``, ``push``)."""
        return capability in self.capabilities


# --- public functions ---------------------------------------------------------------


def default_hosts_dir(user_config_dir: Path, *, system_dir: Path = SYSTEM_HOSTS_DIR) -> Path | None:
    """``<user_config_dir>/certs.d`` if it is a directory, else ``/etc/containerd/certs.d``
    if that is one, else None (no hosts directory: every registry is its own upstream)."""
    for candidate in (user_config_dir / "certs.d", system_dir):
        if candidate.is_dir():
            return candidate
    return None


def hosts_for(
    registry: str,
    *,
    hosts_dir: Path | None = None,
    mirrors: Sequence[str] = (),
    plain_http: bool = False,
    skip_verify: bool = False,
    ca_file: str | None = None,
) -> list[Host]:
    """The hosts to try for ``registry`` (a reference's domain: ``docker.io``,
    ``127.0.0.1:5000``, ...), in order: ``mirrors``, then the ``[host."..."]`` tables of its
    ``hosts.toml`` in file order, then its ``server`` or default upstream.

    ``plain_http`` makes the default upstream use http (as ctr's ``--plain-http``: a URL
    written in hosts.toml keeps its scheme, and docker.io stays https).  ``skip_verify`` and
    ``ca_file`` apply to every host; a host's own ``skip_verify`` wins, its ``ca`` files are
    added after ``ca_file``.  Raises ConfigError for a hosts.toml or mirror URL that cannot
    be used.
    """
    entries: list[_Entry] = []
    for mirror in mirrors:
        entries.append(_mirror_entry(mirror, plain_http=plain_http))
    host_dir = _find_host_dir(hosts_dir, registry) if hosts_dir is not None else None
    if host_dir is None:
        entries.append(_Entry())
    else:
        log.debug("loading host directory %s", host_dir)
        entries.extend(_load_host_dir(host_dir))
    return [
        _finish(e, registry, plain_http=plain_http, skip_verify=skip_verify, ca_file=ca_file)
        for e in entries
    ]


def parse_hosts_toml(
    data: bytes | str,
    registry: str,
    *,
    path: Path = Path(HOSTS_FILE),
    plain_http: bool = False,
    skip_verify: bool = False,
    ca_file: str | None = None,
) -> list[Host]:
    """The hosts one ``hosts.toml`` text describes for ``registry``, without mirrors: its
    host tables in file order, then the server.  ``path`` names the file in errors and
    anchors relative ``ca`` paths.  Raises ConfigError, and nothing else, for bad input."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return [
        _finish(e, registry, plain_http=plain_http, skip_verify=skip_verify, ca_file=ca_file)
        for e in _parse_file(raw, path)
    ]


def host_dir_candidates(hosts_dir: Path, registry: str) -> list[Path]:
    """Where containerd looks for ``registry``'s directory, first match wins:
    ``host_port_`` (for ``host:port``), ``host:port`` (or ``host``), then ``_default``."""
    candidates = []
    host, port = _split_host_port(registry)
    if port is not None:
        bare = host if ":" not in host else f"[{host}]"
        candidates.append(hosts_dir / f"{bare}_{port}_")
    candidates.append(hosts_dir / registry)
    candidates.append(hosts_dir / DEFAULT_DIR)
    return candidates


def is_loopback(authority: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1, with or without a port (``[::1]:5000``)."""
    host, _ = _split_host_port(authority)
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- entries: what a hosts.toml table says, before defaults ----------------------------


@dataclass(frozen=True)
class _Entry:
    """One host as configured; ``url`` None is the registry's default upstream."""

    url: str | None = None
    path: str = API_PATH
    capabilities: frozenset[str] = ALL_CAPABILITIES
    skip_verify: bool | None = None
    ca: tuple[str, ...] = ()
    headers: Mapping[str, tuple[str, ...]] = field(default_factory=_no_headers, hash=False)


def _finish(
    entry: _Entry, registry: str, *, plain_http: bool, skip_verify: bool, ca_file: str | None
) -> Host:
    if entry.url is None:
        # containerd's ConfigureHosts: the last host has no server, so it is the registry
        # itself, on /v2, trusted for everything; the file's root-level TLS and headers stay.
        url = _default_upstream(registry, plain_http=plain_http)
        path, capabilities = API_PATH, ALL_CAPABILITIES
    else:
        url, path, capabilities = entry.url, entry.path, entry.capabilities
    authority = url.split("://", 1)[1]
    return Host(
        url=url,
        path=path,
        capabilities=capabilities,
        skip_verify=skip_verify if entry.skip_verify is None else entry.skip_verify,
        ca=((ca_file,) if ca_file else ()) + entry.ca,
        headers=entry.headers,
        is_mirror=_is_proxy(authority, registry),
    )


def _default_upstream(registry: str, *, plain_http: bool) -> str:
    if registry == DOCKER_HUB:
        return f"https://{DOCKER_HUB_HOST}"
    scheme = "http" if plain_http or is_loopback(registry) else "https"
    return f"{scheme}://{registry.lower()}"


def _is_proxy(authority: str, registry: str) -> bool:
    """containerd's isProxy: the host is not the registry (docker.io is registry-1's)."""
    host, reg = authority.lower(), registry.lower()
    return host != reg and not (reg == DOCKER_HUB and host == DOCKER_HUB_HOST)


def _mirror_entry(text: str, *, plain_http: bool) -> _Entry:
    where = f"--mirror {text!r}"
    if "://" not in text:
        # A bare host[:port] on the command line is treated like a registry name: http for
        # loopback or with --plain-http (hosts.toml entries without a scheme get https).
        scheme = "http" if plain_http or is_loopback(text.split("/", 1)[0]) else "https"
        text = f"{scheme}://{text}"
    url, path = _parse_url(text, where=where, override_path=False)
    return _Entry(url=url, path=path, capabilities=MIRROR_CAPABILITIES)


# --- the hosts directory ------------------------------------------------------------------


def _find_host_dir(hosts_dir: Path, registry: str) -> Path | None:
    if hosts_dir.exists() and not hosts_dir.is_dir():
        raise ConfigError(f"hosts directory {hosts_dir}: not a directory")
    for candidate in host_dir_candidates(hosts_dir, registry):
        try:
            candidate.stat()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise ConfigError(f"{candidate}: cannot read: {exc.strerror or exc}") from exc
        return candidate
    return None


def _load_host_dir(host_dir: Path) -> list[_Entry]:
    path = host_dir / HOSTS_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read: {exc.strerror or exc}",
            hint="make it a readable file, or remove it",
        ) from exc
    if not data:
        # No hosts.toml: Docker's certs.d layout, "*.crt" files are CA certificates
        # (client "*.cert"/"*.key" pairs are not used by ctrpy).
        return [_Entry(ca=_crt_files(host_dir))]
    return _parse_file(data, path)


def _crt_files(host_dir: Path) -> tuple[str, ...]:
    try:
        names = sorted(p.name for p in host_dir.iterdir() if p.is_file())
    except NotADirectoryError:
        return ()
    except OSError as exc:
        raise ConfigError(f"{host_dir}: cannot list: {exc.strerror or exc}") from exc
    return tuple(str(host_dir / n) for n in names if n.endswith(".crt"))


# --- hosts.toml ------------------------------------------------------------------------------

_HINT = "see containerd's docs/hosts.md for the format"


def _parse_file(data: bytes, path: Path) -> list[_Entry]:
    doc = _load_toml(data, path)
    base_dir = path.parent
    entries: list[_Entry] = []
    hosts = doc.get("host", {})
    if not isinstance(hosts, dict):
        raise _type_error(path, "host", hosts, 'tables like [host."https://mirror.example"]')
    # tomllib keeps tables in the order they first appear, which is containerd's order of
    # [host."..."] headers.  Unlike containerd, hosts given by dotted keys or inline tables
    # are kept (containerd skips them), and a host whose [.header] sub-table comes later in
    # the file is not listed twice.
    for name, table in hosts.items():
        key = f"host.{_quote(name)}"
        if not isinstance(table, dict):
            raise _type_error(path, key, table, "a table")
        entries.append(_entry(path, base_dir, key, name, table))
    server = doc.get("server", "")
    if not isinstance(server, str):
        raise _type_error(path, "server", server, "a string")
    entries.append(_entry(path, base_dir, "", server or None, doc))
    return entries


def _load_toml(data: bytes, path: Path) -> dict[str, Any]:
    import tomllib  # only when a hosts.toml exists (its regexes cost ~1.5 ms of start-up)

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}: not UTF-8 text (at line {line}, byte {exc.start})", hint=_HINT
        ) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        why = str(exc)
        if why.endswith("(at end of document)"):
            why = f"{why[: -len(')')]}, line {text.count(chr(10)) + 1})"
        raise ConfigError(f"{path}: invalid TOML: {why}", hint=_HINT) from exc
    except (ValueError, RecursionError) as exc:  # e.g. absurdly deep nesting
        raise ConfigError(f"{path}: invalid TOML: {exc}", hint=_HINT) from exc


def _entry(
    path: Path, base_dir: Path, prefix: str, server: str | None, table: Mapping[str, Any]
) -> _Entry:
    def key(name: str) -> str:
        return f"{prefix}.{name}" if prefix else name

    override_path = _optional_bool(path, key("override_path"), table.get("override_path"))
    url, api_path = None, API_PATH
    if server is not None:
        if "://" not in server:
            server = "https://" + server  # containerd: a URL without a scheme is https
        url, api_path = _parse_url(
            server, where=f"{path}: {prefix or 'server'}", override_path=bool(override_path)
        )
    capabilities = _capabilities(path, key("capabilities"), table.get("capabilities"))
    skip_verify = _optional_bool(path, key("skip_verify"), table.get("skip_verify"))
    ca = _paths(path, key("ca"), table.get("ca"), base_dir)
    _check_client(path, key("client"), table.get("client"))
    headers = _headers(path, key("header"), table.get("header"))
    dial_timeout = table.get("dial_timeout")
    if dial_timeout is not None and (
        not isinstance(dial_timeout, str) or not _GO_DURATION.fullmatch(dial_timeout)
    ):
        raise _type_error(path, key("dial_timeout"), dial_timeout, 'a duration like "3s"')
    return _Entry(
        url=url,
        path=api_path,
        capabilities=capabilities,
        skip_verify=skip_verify,
        ca=ca,
        headers=headers,
    )


_GO_DURATION = re.compile(r"[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)")
_AUTHORITY = re.compile(r"(\[[0-9A-Za-z:.%]+\]|[^\s/?#@\[\]:\\]+)(?::(\d{1,5}))?")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _parse_url(text: str, *, where: str, override_path: bool) -> tuple[str, str]:
    """``scheme://authority`` and the API path of a host URL (containerd's
    parseHostConfig: the path is cleaned and gets ``/v2`` unless it ends with it or
    ``override_path`` is set)."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{where}: invalid URL {text!r}: {exc}", hint=_HINT) from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ConfigError(f"{where}: URL {text!r} must use http or https", hint=_HINT)
    match = _AUTHORITY.fullmatch(parts.netloc)
    if not match or (port is not None and not 0 < port <= 65535):
        raise ConfigError(f"{where}: URL {text!r} has no valid host[:port]", hint=_HINT)
    if parts.query or parts.fragment:
        raise ConfigError(f"{where}: URL {text!r} must not have a query or fragment", hint=_HINT)
    path = parts.path
    if path.strip("/"):
        path = posixpath.normpath("/" + path.lstrip("/"))
        if not path.endswith(API_PATH) and not override_path:
            path += API_PATH
    else:
        # containerd turns "https://host/" into "//v2"; an empty path is what was meant.
        path = "" if override_path else API_PATH
    return f"{scheme}://{parts.netloc.lower()}", path


def _capabilities(path: Path, key: str, value: object) -> frozenset[str]:
    if value is None:
        return ALL_CAPABILITIES
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _type_error(path, key, value, 'a list of strings like ["pull", "resolve"]')
    if not value:
        return ALL_CAPABILITIES  # containerd: an empty list means all
    caps = set()
    for cap in value:
        if cap.lower() not in _KNOWN_CAPABILITIES:
            raise ConfigError(
                f"{path}: {key}: unknown capability {cap!r} "
                f"(expected {', '.join(_KNOWN_CAPABILITIES[:3])})",
                hint=_HINT,
            )
        caps.add(cap.lower())
    return frozenset(caps)


def _optional_bool(path: Path, key: str, value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise _type_error(path, key, value, "true or false")


def _paths(path: Path, key: str, value: object, base_dir: Path) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = list(value)
    else:
        raise _type_error(path, key, value, "a path or a list of paths")
    return tuple(str(base_dir / p) if not Path(p).is_absolute() else p for p in items)


def _check_client(path: Path, key: str, value: object) -> None:
    """``client``: a path, a list of paths, or a list of [cert, key] pairs.  Checked, not
    used (ctrpy does not do TLS client authentication yet)."""
    if value is None or isinstance(value, str):
        return
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                continue
            if isinstance(item, list) and len(item) == 2 and all(isinstance(v, str) for v in item):
                continue
            raise _type_error(path, key, item, 'a path or a ["cert", "key"] pair')
        return
    raise _type_error(path, key, value, "a path, a list of paths or of [cert, key] pairs")


def _headers(path: Path, key: str, value: object) -> Mapping[str, tuple[str, ...]]:
    if value is None:
        return _no_headers()
    if not isinstance(value, dict):
        raise _type_error(path, key, value, "a table of header names to values")
    headers: dict[str, tuple[str, ...]] = {}
    for name, raw in value.items():
        hkey = f"{key}.{_quote(name)}"
        if not _HEADER_NAME.fullmatch(name):
            raise ConfigError(f"{path}: {hkey}: not a valid HTTP header name", hint=_HINT)
        if isinstance(raw, str):
            values: tuple[str, ...] = (raw,)
        elif isinstance(raw, list) and all(isinstance(v, str) for v in raw):
            values = tuple(raw)
        else:
            raise _type_error(path, hkey, raw, "a string or a list of strings")
        if any(ch in v for v in values for ch in "\r\n\0"):
            raise ConfigError(f"{path}: {hkey}: a header value cannot span lines", hint=_HINT)
        headers[name] = values
    return MappingProxyType(headers)


def _type_error(path: Path, key: str, value: object, expected: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: expected {expected}, got {_toml_type(value)}", hint=_HINT)


def _toml_type(value: object) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _quote(name: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_-]+", name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _split_host_port(authority: str) -> tuple[str, str | None]:
    """``("127.0.0.1", "5000")`` for ``127.0.0.1:5000``, ``("::1", None)`` for ``[::1]``."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return authority, None
        rest = authority[end + 1 :]
        return authority[1:end], rest[1:] if rest.startswith(":") and rest[1:] else None
    if authority.count(":") == 1:
        host, port = authority.split(":")
        return host, port or None
    return authority, None
