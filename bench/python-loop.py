"""The in-process baseline of the Python rows: an app's hello() called by a bare loop, no server.

    python3 bench/python-loop.py APP_DIR CALLS   prints {"calls": CALLS, "perCallUs": ...}

Imports APP_DIR/main.py as the bridge does (by path, under the name "main"), warms up, then times CALLS
calls one after another. The loop's own cost (a few tens of ns a turn) is included. Standard library only.
"""

import importlib.util
import json
import os
import sys
import time


def main() -> None:
    app_dir, calls = sys.argv[1], int(sys.argv[2])
    spec = importlib.util.spec_from_file_location("main", os.path.join(app_dir, "main.py"))
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {app_dir}/main.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["main"] = module
    spec.loader.exec_module(module)
    hello = module.hello
    for _ in range(min(calls, 10_000)):
        hello()
    started = time.perf_counter()
    for _ in range(calls):
        hello()
    elapsed = time.perf_counter() - started
    print(json.dumps({"calls": calls, "perCallUs": elapsed / calls * 1e6}))


if __name__ == "__main__":
    main()
