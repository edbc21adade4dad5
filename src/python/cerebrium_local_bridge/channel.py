"""The channel: JSON lines on fd 3, both directions, whole lines under a lock."""

from __future__ import annotations

import json
import os
import threading
import typing
from typing import Any, Dict

PROTOCOL_FD = 3


class Channel:
    """Both directions of fd 3. Writes come from many threads, so each line is written whole under a
    lock. A server that has gone away (EOF, a broken pipe) ends the process at once: there is no one
    left to answer, and a worker thread stuck in user code must not keep it alive."""

    def __init__(self, fd: int = PROTOCOL_FD) -> None:
        self._fd = fd
        # Our end of the socketpair must block: writes loop until done and reads wait for lines.
        os.set_blocking(fd, True)
        self._lock = threading.Lock()
        self._reader = os.fdopen(os.dup(fd), "rb")

    def send(self, message: Dict[str, Any]) -> None:
        self.send_text(json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False))

    def send_text(self, text: str) -> None:
        # JSON only ever holds non-ASCII text inside strings, where a lone surrogate written as \udXXX
        # is a valid escape: backslashreplace keeps such strings instead of failing the whole line.
        data = memoryview((text + "\n").encode("utf-8", "backslashreplace"))
        with self._lock:
            try:
                while data:
                    written = os.write(self._fd, data)
                    data = data[written:]
            except OSError:
                os._exit(0)

    def lines(self) -> typing.Iterator[bytes]:
        """Each line the server sends; returns at EOF."""
        while True:
            try:
                line = self._reader.readline()
            except OSError:
                return
            if not line:
                return
            yield line
