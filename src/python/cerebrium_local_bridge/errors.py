"""Errors: an exception as a SerializedError, its traceback starting in user code."""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict


# This package's folder: frames of its files are the bridge's own.
_PACKAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "")
_ASYNCIO_DIR = os.path.dirname(asyncio.__file__)
_CONCURRENT_DIR = os.path.dirname(sys.modules[ThreadPoolExecutor.__module__].__file__ or "")


def _is_machinery_frame(filename: str) -> bool:
    """Frames of the bridge and of what calls user code for it, which say nothing about the user's bug."""
    return (
        filename.startswith(_PACKAGE_DIR)
        or filename.startswith("<frozen ")
        or filename.startswith(_ASYNCIO_DIR)
        or filename.startswith(_CONCURRENT_DIR)
    )


def serialise_exception(err: BaseException) -> Dict[str, Any]:
    """SerializedError of an exception: its class name, str() and a traceback that starts in user code."""
    tb = err.__traceback__
    while tb is not None and _is_machinery_frame(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    stack = "".join(traceback.format_exception(type(err), err, tb))
    return {"name": type(err).__name__, "message": str(err), "stack": stack}
