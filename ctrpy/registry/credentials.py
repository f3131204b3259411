"""Where credentials come from: ``--user``, then Docker's ``config.json``.

``config.json`` (``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``) is read the
way the docker CLI reads it: ``credHelpers`` for the host, else ``credsStore``, else the
``auths`` entry (``auth`` = base64 ``user:password``, ``identitytoken``).  A helper is run
as ``docker-credential-<name> get`` with the server address on stdin.  Docker Hub's key is
``https://index.docker.io/v1/``.

Secrets never leave this module in a printable form: :class:`Credentials` hides them from
``repr`` and nothing here logs or raises with a secret in it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctrpy.errors import ConfigError

log = logging.getLogger("ctrpy.registry")

DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
DOCKER_HUB_HOSTS = ("index.docker.io", "docker.io", "registry-1.docker.io")
HELPER_TIMEOUT = 30.0
_MAX_CONFIG = 4 * 1024 * 1024


@dataclass(frozen=True)
class Credentials:
    """A user name with a password, or an identity (refresh) token.  Secrets are not in repr."""

    username: str
    password: str = field(default="", repr=False)
    identity_token: str | None = field(default=None, repr=False)
    source: str = "--user"


def config_dir(explicit: Path | None = None) -> Path:
    """``explicit``, else ``$DOCKER_CONFIG``, else ``~/.docker``."""
    if explicit is not None:
        return explicit
    env = os.environ.get("DOCKER_CONFIG")
    if env:
        return Path(env)
    return Path.home() / ".docker"


def _hostname(key: str) -> str:
    """Docker's ConvertToHostname: ``https://host:5000/v1/`` -> ``host:5000``."""
    for prefix in ("http://", "https://"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    return key.split("/", 1)[0].lower()


def user_credentials(user: str | None, password: str | None) -> Credentials | None:
    """``--user USER[:PASSWORD]`` (the CLI prompts for a missing password)."""
    if not user:
        return None
    if password is None and ":" in user:
        user, password = user.split(":", 1)
    return Credentials(user, password or "", None, "--user")


class CredentialStore:
    """Looks credentials up per registry host, once per host per run (thread-safe)."""

    def __init__(
        self,
        user: str | None = None,
        password: str | None = None,
        docker_config: Path | None = None,
    ) -> None:
        self._user = user_credentials(user, password)
        self._dir = docker_config
        self._lock = threading.Lock()
        self._cache: dict[str, Credentials | None] = {}
        self._config: dict[str, Any] | None = None

    @property
    def config_path(self) -> Path:
        return config_dir(self._dir) / "config.json"

    def lookup(self, host: str) -> Credentials | None:
        """Credentials for a registry host (``host[:port]``); Docker Hub's hosts share one key."""
        if self._user is not None:
            return self._user
        key = host.lower()
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self._from_config(key)
            return self._cache[key]

    # --- config.json -------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        if self._config is None:
            path = self.config_path
            try:
                with path.open("rb") as f:
                    raw = f.read(_MAX_CONFIG)
            except FileNotFoundError:
                raw = b"{}"
            except OSError as exc:
                raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
            try:
                data = json.loads(raw or b"{}")
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise ConfigError(
                    f"{path} is not valid JSON",
                    hint="fix or move the file (it holds Docker's registry credentials)",
                ) from None
            self._config = data if isinstance(data, dict) else {}
        return self._config

    def _from_config(self, host: str) -> Credentials | None:
        config = self._load()
        hub = host in DOCKER_HUB_HOSTS
        names = set(DOCKER_HUB_HOSTS) if hub else {host}
        server = DOCKER_HUB_SERVER if hub else host

        helpers = config.get("credHelpers")
        if isinstance(helpers, dict):
            for key, helper in helpers.items():
                if isinstance(helper, str) and helper and _hostname(key) in names:
                    return _run_helper(helper, server)
        store = config.get("credsStore")
        if isinstance(store, str) and store:
            found = _run_helper(store, server)
            if found is not None:
                return found
        auths = config.get("auths")
        if isinstance(auths, dict):
            for key, entry in auths.items():
                if _hostname(key) in names and isinstance(entry, dict):
                    found = self._auth_entry(key, entry)
                    if found is not None:
                        return found
        return None

    def _auth_entry(self, key: str, entry: dict[str, Any]) -> Credentials | None:
        source = f"{self.config_path} auths[{key!r}]"
        username = entry.get("username") if isinstance(entry.get("username"), str) else ""
        password = entry.get("password") if isinstance(entry.get("password"), str) else ""
        auth = entry.get("auth")
        if isinstance(auth, str) and auth:
            try:
                decoded = base64.b64decode(auth, validate=False).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise ConfigError(f"{source}: 'auth' is not base64 of user:password") from None
            if ":" not in decoded:
                raise ConfigError(f"{source}: 'auth' is not base64 of user:password")
            username, password = decoded.split(":", 1)
        token = entry.get("identitytoken")
        if isinstance(token, str) and token:
            return Credentials(str(username or ""), "", token, source)
        if username:
            return Credentials(str(username), str(password or ""), None, source)
        return None


def _run_helper(name: str, server: str) -> Credentials | None:
    import subprocess  # only for credential helpers (~1 ms of start-up otherwise)

    program = f"docker-credential-{name}"
    source = f"credential helper {program}"
    try:
        proc = subprocess.run(
            [program, "get"],
            input=server.encode(),
            capture_output=True,
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        log.warning("%s not found on PATH; continuing without credentials for %s", program, server)
        return None
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("%s failed (%s); continuing without credentials", program, type(exc).__name__)
        return None
    if proc.returncode != 0:
        if b"credentials not found" in proc.stdout.lower() + proc.stderr.lower():
            return None
        log.warning(
            "%s get exited with status %d for %s; continuing without credentials",
            program,
            proc.returncode,
            server,
        )
        return None
    try:
        data = json.loads(proc.stdout)
    except (UnicodeDecodeError, json.JSONDecodeError):
        log.warning("%s get printed something that is not JSON; ignoring it", program)
        return None
    if not isinstance(data, dict):
        return None
    username = data.get("Username")
    secret = data.get("Secret")
    if not isinstance(username, str) or not isinstance(secret, str) or not secret:
        return None
    if username == "<token>":
        return Credentials("", "", secret, source)
    return Credentials(username, secret, None, source)
