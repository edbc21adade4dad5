"""For the Python cold-start measure: importing this module sleeps BENCH_IMPORT_SLEEP_S seconds (default
0.2), as loading a model at module level would, so the import's share of a cold start shows. The bench
also serves it with BENCH_IMPORT_SLEEP_S=0, for the cold start of an app whose import costs nothing."""

import os
import time

time.sleep(float(os.environ.get("BENCH_IMPORT_SLEEP_S", "0.2")))


def hello():
    return {"ok": True}
