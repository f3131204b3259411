"""Helpers for the registry client's unit tests: a tiny OCI image, and a raw-socket server.

pytest-httpserver covers most of what a real registry will not do on demand; a connection
that dies in the middle of a body needs a real socket, which :class:`RawBlobServer` gives.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ctrpy.oci import mediatypes
from ctrpy.oci.descriptor import Descriptor
from ctrpy.oci.digest import Digest
from ctrpy.oci.reference import Reference
from ctrpy.registry.client import ClientOptions


def descriptor(media_type: str, data: bytes) -> Descriptor:
    return Descriptor(media_type, Digest.of(data), len(data))


@dataclass(frozen=True)
class Image:
    config: bytes
    layer: bytes
    manifest: bytes

    @property
    def manifest_desc(self) -> Descriptor:
        return descriptor(mediatypes.OCI_MANIFEST, self.manifest)

    @property
    def layer_desc(self) -> Descriptor:
        return descriptor(mediatypes.OCI_LAYER_GZIP, self.layer)


def image(layer_size: int = 3000) -> Image:
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
    layer = bytes((i * 7 + i // 251) % 256 for i in range(layer_size))
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": descriptor(mediatypes.OCI_CONFIG, config).to_json(),
            "layers": [descriptor(mediatypes.OCI_LAYER_GZIP, layer).to_json()],
        }
    ).encode()
    return Image(config, layer, manifest)


def ref(domain: str, path: str = "test/app", tag: str | None = "latest") -> Reference:
    return Reference(domain=domain, path=path, tag=tag)


def options(tmp_path: Path, **kwargs: object) -> ClientOptions:
    """Fast retries, and a docker config dir of our own (never the user's ~/.docker)."""
    config = tmp_path / "docker-config"
    config.mkdir(exist_ok=True)
    base: dict[str, object] = {"docker_config": config, "backoff": 0.001, "timeout": 5.0}
    base.update(kwargs)
    return ClientOptions(**base)  # type: ignore[arg-type]


@dataclass
class RawBlobServer:
    """Serves one blob on 127.0.0.1 over raw HTTP/1.1, misbehaving on purpose.

    ``cut_after`` lists, per request in order, after how many body bytes the connection
    breaks (None: send the whole rest).  ``reset=True`` breaks it with a TCP reset (after a
    short pause, so that the bytes sent before are read, not discarded by the reset),
    ``reset=False`` with a clean close before the promised Content-Length.
    ``honour_range=False`` answers every request with 200 and the whole blob, as a server
    that ignores ``Range`` does.
    """

    blob: bytes
    cut_after: Sequence[int | None] = ()
    honour_range: bool = True
    reset: bool = True
    requests: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._stopped = False
        self._thread.start()

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.blob).hexdigest()

    def close(self) -> None:
        self._stopped = True
        self._sock.close()

    def _serve(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, path, _ = head[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in head[1:])}
        self.requests.append({"method": method, "path": path, "range": headers.get("range", "")})
        index = len(self.requests) - 1
        cut = self.cut_after[index] if index < len(self.cut_after) else None
        start = 0
        if self.honour_range and headers.get("range", "").startswith("bytes="):
            start = int(headers["range"][len("bytes=") :].split("-", 1)[0])
        body = self.blob[start:]
        if start:
            status = "206 Partial Content"
            extra = f"Content-Range: bytes {start}-{len(self.blob) - 1}/{len(self.blob)}\r\n"
        else:
            status, extra = "200 OK", ""
        conn.sendall(
            (
                f"HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
            ).encode()
        )
        if cut is None:
            conn.sendall(body)
            return
        conn.sendall(body[:cut])
        if not self.reset:
            return  # closed cleanly, short of Content-Length
        time.sleep(0.2)
        # a hard reset (RST), not a clean close
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
