"""The Python twin of bench/apps/trivial: also called in-process by bench/python-loop.py (the baseline)."""


def hello():
    return {"ok": True}
