"""JSON encoding of results and chunks, and the SSE frame of a chunk."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any, Dict


class NotSerialisable(Exception):
    """A result or chunk that JSON cannot encode; the message says why (and names the type)."""


def _json_default(value: Any) -> Any:
    """What json.dumps cannot encode by itself: dataclasses, pydantic models (duck-typed), bytes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump) and not isinstance(value, type):
        try:
            # Pydantic v2: mode="json" turns datetimes, UUIDs and the like into JSON values too.
            return model_dump(mode="json")
        except TypeError:
            return model_dump()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"object of type {type(value).__name__} is not JSON serializable")


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default)


def encode_json(value: Any) -> str:
    """JSON text of a value, compact like JSON.stringify; NaN and Infinity count as not encodable."""
    try:
        return _ENCODER.encode(value)
    except Exception as err:  # TypeError, ValueError (NaN, circular), or whatever model_dump raised
        raise NotSerialisable(str(err)) from err


def _not_serialisable_error(reason: str) -> Dict[str, Any]:
    return {
        "name": "TypeError",
        "message": f"The function's result cannot be encoded as JSON: {reason}",
        "notSerialisable": True,
    }


_SSE_FIELD = ("data:", "event:", "id:", "retry:", ":")


def to_sse_frame(chunk: Any) -> str:
    """The same framing as src/worker/sse-frame.ts, for a run asked for stream "sse"."""
    if isinstance(chunk, str):
        if chunk.startswith(_SSE_FIELD) and (chunk.endswith("\n\n") or chunk.endswith("\r\n\r\n")):
            return chunk
        lines = chunk.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        return "\n".join("data: " + line for line in lines) + "\n\n"
    return f"data: {encode_json(chunk)}\n\n"
