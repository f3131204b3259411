"""Helpers shared by the tests and the benchmark: real registries, images, a fault proxy."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def ctrpy_script() -> Path | None:
    """The installed ``ctrpy`` console script beside this Python, if there is one.

    Not a version manager's shim on ``$PATH``: pyenv's costs tens of milliseconds of bash per
    call and exists only after a rehash, so it is neither what a user runs nor reliable.
    """
    script = Path(sys.executable).parent / "ctrpy"
    return script if script.is_file() and os.access(script, os.X_OK) else None


def ctrpy_command() -> list[str]:
    """How to start ctrpy as a user would: the console script, else ``python -m ctrpy``."""
    script = ctrpy_script()
    return [str(script)] if script else [sys.executable, "-m", "ctrpy"]
