"""Content digests: a strict value type and a streaming verifier.

A :class:`Digest` is used to build file paths in the store, so parsing is
strict: a known algorithm, a colon, and lowercase hex of exactly that
algorithm's length.  Nothing else (``sha256:../../x``, ``md5:…``, upper case)
gets through.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ctrpy.errors import IntegrityError, InvalidDigest

if TYPE_CHECKING:
    from hashlib import _Hash

#: hex length of each supported algorithm
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha384": 96, "sha512": 128}

_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        if not isinstance(self.algorithm, str) or not isinstance(self.hex, str):
            raise InvalidDigest(f"invalid digest {self.algorithm!r:.20}:{self.hex!r:.80}")
        shown = f"{self.algorithm[:20]}:{self.hex[:80]}"
        length = ALGORITHMS.get(self.algorithm)
        if length is None:
            raise InvalidDigest(
                f"invalid digest {shown!r}: unsupported algorithm {self.algorithm[:20]!r} "
                f"(supported: {', '.join(ALGORITHMS)})"
            )
        if len(self.hex) != length or not _HEX.fullmatch(self.hex):
            raise InvalidDigest(
                f"invalid digest {shown!r}: "
                f"{self.algorithm} needs exactly {length} lowercase hex characters"
            )

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``alg:hex``; raise :class:`InvalidDigest` for anything else."""
        if not isinstance(text, str):
            raise InvalidDigest(f"invalid digest {text!r:.80}: not a string")
        algorithm, sep, hexpart = text.partition(":")
        if not sep:
            raise InvalidDigest(f"invalid digest {text[:80]!r}: expected <algorithm>:<hex>")
        return cls(algorithm, hexpart)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of ``data``."""
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def hasher(self) -> _Hash:
        """A fresh hash object of this digest's algorithm."""
        return hashlib.new(self.algorithm)

    @property
    def encoded(self) -> str:
        """The hex part (OCI calls it the "encoded" portion)."""
        return self.hex

    @property
    def short(self) -> str:
        """The first 12 hex characters, for tables."""
        return self.hex[:12]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


class Verifier:
    """Hashes a stream as it passes and checks it against an expected digest and size.

    One pass, constant memory: feed it every chunk with :meth:`update`, then
    call :meth:`verify`.
    """

    __slots__ = ("_hash", "expected", "expected_size", "size")

    def __init__(self, expected: Digest, expected_size: int | None = None) -> None:
        self.expected = expected
        self.expected_size = expected_size
        self._hash = expected.hasher()
        self.size = 0

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    def digest(self) -> Digest:
        return Digest(self.expected.algorithm, self._hash.hexdigest())

    def verify(self, what: str = "content") -> None:
        """Raise :class:`IntegrityError` unless size and digest are the expected ones."""
        if self.expected_size is not None and self.size != self.expected_size:
            raise IntegrityError(
                f"{what} {self.expected}: size mismatch: expected {self.expected_size} bytes, "
                f"got {self.size}",
                hint="the registry or a proxy served different content; try again or "
                "report it to the registry's operator",
            )
        actual = self.digest()
        if actual != self.expected:
            raise IntegrityError(
                f"{what}: digest mismatch: expected {self.expected}, got {actual}",
                hint="the registry or a proxy served different content; nothing was stored",
            )


def verify_bytes(
    data: bytes, expected: Digest, expected_size: int | None = None, what: str = "content"
) -> None:
    """Check a whole in-memory body (a manifest) against its digest and size."""
    verifier = Verifier(expected, expected_size)
    verifier.update(data)
    verifier.verify(what)
