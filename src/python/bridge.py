"""The Python replica: the twin of src/worker/replica.ts for apps whose entry is main.py.

    python3 -u bridge.py serve APP_DIR CONCURRENCY   a replica: imports main.py once, then runs calls
    python3 -u bridge.py inspect APP_DIR             lists main.py's exports, then exits

The protocol (src/replica-protocol.ts, "Process replicas") is one compact JSON object per line on file
descriptor 3, a socketpair made by the server, in both directions. stdout and stderr are never the
protocol: what user code prints becomes `log` messages. Standard library only, Python 3.9+.
"""

from __future__ import annotations

import os
import sys
from typing import List

# The package (cerebrium_local_bridge/) sits next to this file. Its folder is on sys.path only while
# the package is imported, and everything the bridge needs is imported here, up front. Then the folder
# comes off sys.path, so an app's `import schema` or `import runs` can never find the bridge's files;
# import_main puts the app's folder first in its place.
_BRIDGE_DIR = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, _BRIDGE_DIR)
try:
    from cerebrium_local_bridge.entry import inspect_app, serve
finally:
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != _BRIDGE_DIR]


def main(argv: List[str]) -> None:
    usage = "usage: bridge.py serve APP_DIR CONCURRENCY | bridge.py inspect APP_DIR"
    if len(argv) >= 2 and argv[0] == "serve":
        concurrency = int(argv[2]) if len(argv) >= 3 else 1
        serve(os.path.abspath(argv[1]), max(1, concurrency))
    elif len(argv) >= 2 and argv[0] == "inspect":
        inspect_app(os.path.abspath(argv[1]))
    else:
        print(usage, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
