"""Isolated tools for the tool-safety tests. Imported by the tool worker processes, so no
Django models here: module-level functions only."""

from __future__ import annotations

import os
import time

from ai_model.tools import Tool


def _spin(seconds: float = 30.0, pid_file: str = "") -> dict:
    """Burns CPU in pure Python for `seconds` (a runaway tool); writes its pid first."""
    if pid_file:
        with open(pid_file, "w") as out:
            out.write(str(os.getpid()))
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
    return {"pid": os.getpid(), "loops": n}


def _huge_int() -> int:
    return 10**5000  # json.dumps refuses ints over 4,300 digits


def _long_text() -> str:
    return "x" * 50_000


def _hog() -> int:
    return len(bytearray(4 * 1024**3))  # over the workers' address-space limit


_NO_ARGS = {"type": "object", "properties": {}}
spin = Tool("spin", "Burns CPU.", {"type": "object", "properties": {"seconds": {"type": "number"}, "pid_file": {"type": "string"}}},
            _spin, timeout_s=0.5, isolated=True)
huge_int = Tool("huge_int", "Returns a 5,001-digit integer.", _NO_ARGS, _huge_int, isolated=True)
long_text = Tool("long_text", "Returns 50,000 characters.", _NO_ARGS, _long_text, isolated=True)
hog = Tool("hog", "Allocates 4 GB.", _NO_ARGS, _hog, isolated=True)
