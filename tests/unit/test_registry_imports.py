"""Importing ctrpy.registry leaves out httpx's CLI and httpcore's trio support (start-up time),
without breaking httpx or those modules for anybody else in the process.

Each case runs in a fresh interpreter: the guard only acts when httpx is not imported yet.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

FRESH = """
import importlib.util, sys
import ctrpy.registry.client
assert "httpx" in sys.modules and "httpcore" in sys.modules
print("left out:", sorted(m for m in ("httpx._main", "trio") if m not in sys.modules))
print("blocked afterwards:", sorted(m for m in ("httpx._main", "trio") if m in sys.modules))
"""

HTTPX_WORKS = """
import httpcore, httpx
import ctrpy.registry.client
def answer(request):
    return httpx.Response(200, headers={"Docker-Content-Digest": "x"}, content=b"ok")
with httpx.Client(transport=httpx.MockTransport(answer)) as c:
    r = c.get("http://127.0.0.1:1/v2/")
    assert (r.status_code, r.text) == (200, "ok"), r
with httpx.HTTPTransport(verify=False) as t:  # builds httpcore's connection pool
    assert isinstance(t._pool, httpcore.ConnectionPool)
print("httpx ok")
"""

LATER_IMPORTS = """
import importlib.util, sys
import ctrpy.registry.client
if importlib.util.find_spec("trio") is not None:
    import trio
    assert trio.__name__ == "trio"
if all(importlib.util.find_spec(m) is not None for m in ("click", "rich", "pygments")):
    import httpx._main
    assert callable(httpx._main.main)
print("later imports ok")
"""

ALREADY_IMPORTED = """
import sys
import httpx
had_main = "httpx._main" in sys.modules
import ctrpy.registry.client
assert ("httpx._main" in sys.modules) == had_main
assert sys.modules.get("httpx._main", 0) is not None and sys.modules.get("trio", 0) is not None
print("untouched")
"""


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param(
            FRESH,
            "left out: ['httpx._main', 'trio']\nblocked afterwards: []\n",
            id="fresh-import-leaves-out-cli-and-trio",
        ),
        pytest.param(HTTPX_WORKS, "httpx ok\n", id="httpx-and-httpcore-still-work"),
        pytest.param(LATER_IMPORTS, "later imports ok\n", id="trio-and-httpx-cli-importable-later"),
        pytest.param(ALREADY_IMPORTED, "untouched\n", id="httpx-imported-first-is-left-alone"),
    ],
)
def test_registry_import_guard(code: str, expected: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected
