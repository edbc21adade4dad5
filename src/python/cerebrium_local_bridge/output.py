"""Output capture: print() and logging become `log` messages of the run they belong to."""

from __future__ import annotations

import codecs
import contextvars
import io
import logging
import sys
import threading
from typing import Any, Dict, Optional

from .channel import Channel

# A printed line longer than this without a newline is sent as it is, so memory stays bounded.
MAX_PENDING_LINE = 64 * 1024

# The run a line of output belongs to. Set in each run's task; copied into the worker threads that
# run its sync code, so print() and logging there know their run too.
CURRENT_RUN: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("cerebrium_run_id", default=None)


class LineWriter(io.TextIOBase):
    """Stands in for sys.stdout / sys.stderr: each complete line becomes one `log` message, tagged with
    the run that printed it. Partial lines are kept per run, so two runs printing at once do not
    splice their text; what is left of a run's line goes out when the run ends."""

    def __init__(self, channel: Channel, stream: str, original: Any) -> None:
        super().__init__()
        self._channel = channel
        self._stream = stream
        self._original = original
        self._lock = threading.Lock()
        self._pending: Dict[Optional[str], str] = {}
        self.buffer = _BinaryLineWriter(self)

    # What libraries look for on a text stream.
    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "strict"

    @property
    def line_buffering(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        # Code that writes to the descriptor itself (subprocesses, C extensions, faulthandler) reaches
        # the process's real stdout or stderr, which the server reads too.
        return self._original.fileno()

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if not text:
            return 0
        run_id = CURRENT_RUN.get()
        with self._lock:
            pending = self._pending.pop(run_id, "") + text
            lines = pending.split("\n")
            rest = lines.pop()
            if len(rest) > MAX_PENDING_LINE:
                lines.append(rest)
                rest = ""
            if rest:
                self._pending[run_id] = rest
            for line in lines:
                self._send(run_id, line)
        return len(text)

    def flush(self) -> None:
        # A partial line stays pending: print("Loading...", end="", flush=True) then print(" done")
        # is one log line.
        pass

    def flush_run(self, run_id: Optional[str]) -> None:
        """Sends what is left of a run's last line (one printed without a newline)."""
        with self._lock:
            rest = self._pending.pop(run_id, "")
            if rest:
                self._send(run_id, rest)

    def _send(self, run_id: Optional[str], line: str) -> None:
        if line.endswith("\r"):
            line = line[:-1]
        self._channel.send({"type": "log", "runId": run_id, "stream": self._stream, "line": line})


class _BinaryLineWriter(io.RawIOBase):
    """sys.stdout.buffer for code that writes bytes: decoded as UTF-8 and passed on as text."""

    def __init__(self, text: LineWriter) -> None:
        super().__init__()
        self._text = text
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raw = bytes(data)
        with self._lock:
            text = self._decoder.decode(raw)
        if text:
            self._text.write(text)
        return len(raw)


class ProtocolLogHandler(logging.Handler):
    """The root logger's handler: one `log` message per record, with its level, for the run that
    logged it. The message is the record's formatted text (with its traceback, when it has one)."""

    def __init__(self, channel: Channel) -> None:
        super().__init__(logging.NOTSET)
        self._channel = channel
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            self._channel.send(
                {
                    "type": "log",
                    "runId": CURRENT_RUN.get(),
                    "stream": "logging",
                    "level": record.levelname.lower(),
                    "line": line,
                }
            )
        except Exception:
            self.handleError(record)


def capture_output(channel: Channel) -> tuple:
    """Replaces sys.stdout, sys.stderr and the root logger's default, before main.py is imported, so
    its cold-start output is captured too (with runId null)."""
    stdout = LineWriter(channel, "stdout", sys.__stdout__)
    stderr = LineWriter(channel, "stderr", sys.__stderr__)
    sys.stdout = stdout
    sys.stderr = stderr

    root = logging.getLogger()
    handler = ProtocolLogHandler(channel)
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    # logging.basicConfig() does nothing at all once the root logger has a handler, so an app's
    # basicConfig(level=logging.DEBUG, format=...) would be silently dropped. Apply its level and
    # format to our handler instead; force=True still replaces everything, as the user asked.
    original_basic_config = logging.basicConfig

    def basic_config(**kwargs: Any) -> None:
        if kwargs.get("force") or root.handlers != [handler]:
            original_basic_config(**kwargs)
            return
        if kwargs.get("level") is not None:
            root.setLevel(kwargs["level"])
        if kwargs.get("format") is not None:
            handler.setFormatter(
                logging.Formatter(kwargs["format"], kwargs.get("datefmt"), kwargs.get("style", "%"))
            )

    logging.basicConfig = basic_config  # type: ignore[assignment]
    return stdout, stderr
