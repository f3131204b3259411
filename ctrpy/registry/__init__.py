"""Everything ctrpy says to a registry: the only package that imports httpx.

Importing this package imports httpx (and httpcore) once, leaving out two optional parts that
ctrpy never uses and that cost most of its start-up (measured with ``python -X importtime``):

- ``httpx._main``, httpx's own command-line client, which ``httpx/__init__`` imports in a
  ``try: ... except ImportError`` and which pulls in click, rich and pygments (~48 ms);
- ``trio``, which httpcore imports (``try: import trio except ImportError``) for its async
  locks under trio (~65 ms); ctrpy's client is synchronous.

Both are blocked only while httpx and httpcore are first imported, only when they are not
imported yet, and only through the ``except ImportError`` fallbacks those packages have for
them; afterwards the entries are removed again, so ``import trio`` or ``import httpx._main``
still work later in the same process.  The only lasting effect: ``httpx.main`` is httpx's
"install httpx[cli]" stub, and httpcore's *async* API cannot run under trio.
"""

from __future__ import annotations

import sys


def _import_httpx() -> None:
    if "httpx" in sys.modules and "httpcore" in sys.modules:
        return
    blocked = [name for name in ("httpx._main", "trio") if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` -> ImportError
    try:
        import httpcore  # noqa: F401  (httpx imports it lazily; do it here, unblocked of trio)
        import httpx  # noqa: F401
    finally:
        for name in blocked:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]


_import_httpx()
