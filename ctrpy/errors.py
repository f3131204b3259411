"""The one exception hierarchy of ctrpy.

Every failure that reaches the user is a :class:`CtrpyError`: a one-line
``message`` (what failed and why), an optional ``hint`` (what to do about it)
and the process ``exit_code`` that DESIGN.md assigns to its class.  Rendering
(``error: ...`` / ``hint: ...`` on stderr) is the CLI's job, not this module's.
"""

from __future__ import annotations


class CtrpyError(Exception):
    """Base of every error ctrpy raises on purpose.  Exit code 1."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


# --- exit 2: bad usage or bad input ------------------------------------------


class UsageError(CtrpyError):
    """The user asked for something malformed.  Exit code 2."""

    exit_code = 2


class InvalidReference(UsageError, ValueError):
    """An image reference that does not follow the distribution grammar."""


class InvalidPlatform(UsageError, ValueError):
    """A platform specifier such as ``linux/amd64`` that cannot be parsed."""


class InvalidDigest(UsageError, ValueError):
    """A digest string that is not ``<known algorithm>:<hex of its exact length>``."""


class ConfigError(UsageError):
    """A configuration file (hosts.toml, config.json) that cannot be used."""


class NotImplementedYet(CtrpyError):
    """A command that exists in the interface but is not built yet."""


# --- exit 3: not found --------------------------------------------------------


class NotFound(CtrpyError):
    """An image, tag, manifest, blob or platform that does not exist.  Exit code 3."""

    exit_code = 3


class PlatformNotFound(NotFound):
    """An index has no manifest for the platform that was asked for."""


# --- exit 4: authentication / authorization -----------------------------------


class AuthError(CtrpyError):
    """The registry (or its token realm) refused us.  Exit code 4."""

    exit_code = 4


# --- exit 5: integrity ----------------------------------------------------------


class IntegrityError(CtrpyError):
    """Content does not match its digest or size.  Exit code 5."""

    exit_code = 5


# --- exit 1: everything else ----------------------------------------------------


class RegistryError(CtrpyError):
    """The registry answered with an error, or with content we cannot use."""


class InvalidManifest(RegistryError):
    """A manifest or index document that is malformed or unsafe."""


class RateLimited(RegistryError):
    """HTTP 429: the registry's pull rate limit was reached."""


class NetworkError(CtrpyError):
    """The registry could not be reached, or the connection broke for good."""


class StoreError(CtrpyError):
    """The local store could not be read or written (permissions, full disk, ...)."""
