"""Entry points: `serve` (a replica) and `inspect` (main.py's exports), called by bridge.py."""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Dict

from .channel import Channel
from .errors import serialise_exception
from .loading import import_main
from .output import capture_output
from .runs import Replica
from .schema import list_exports


def serve(app_dir: str, concurrency: int) -> None:
    channel = Channel()
    writers = capture_output(channel)
    replica = Replica(channel, concurrency, writers)
    # fd 3 is read from before the import, so a server that goes away during a long cold start (a
    # model loading) ends this process then, not after. The import stays on the main thread, where
    # user code may install signal handlers.
    reader = threading.Thread(target=replica.serve_forever, name="cerebrium-reader", daemon=True)
    reader.start()
    try:
        replica.module = import_main(app_dir)
    except BaseException as err:
        channel.send({"type": "failed", "error": serialise_exception(err)})
        os._exit(1)
    replica.announce_ready()
    try:
        reader.join()  # until EOF, where the reader ends the process
    except KeyboardInterrupt:
        pass  # Ctrl-C reached us too: the server is stopping
    # Not a normal exit: that would wait for worker threads still in user code.
    os._exit(0)


def inspect_app(app_dir: str) -> None:
    # fd 3 carries exactly one line here; what the import prints goes to the real stdout and stderr.
    channel = Channel()
    try:
        module = import_main(app_dir)
        message: Dict[str, Any] = {"type": "exports", "exports": list_exports(module)}
    except BaseException as err:
        message = {"type": "failed", "error": serialise_exception(err)}
    channel.send(message)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    # Not sys.exit: a thread main.py started at import must not keep the process alive.
    os._exit(0)
