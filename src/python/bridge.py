"""The Python replica: the twin of src/worker/replica.ts for apps whose entry is main.py.

    python3 -u bridge.py serve APP_DIR CONCURRENCY   a replica: imports main.py once, then runs calls
    python3 -u bridge.py inspect APP_DIR             lists main.py's exports, then exits

The protocol (src/replica-protocol.ts, "Process replicas") is one compact JSON object per line on file
descriptor 3, a socketpair made by the server, in both directions. stdout and stderr are never the
protocol: what user code prints becomes `log` messages. Standard library only, Python 3.9+.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import contextvars
import dataclasses
import functools
import importlib.util
import inspect
import io
import json
import logging
import math
import os
import platform
import sys
import threading
import time
import traceback
import types
import typing
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional

PROTOCOL_FD = 3
# How many chunks a run may send ahead of what the server has acknowledged (CHUNK_CREDIT_WINDOW).
CHUNK_CREDIT_WINDOW = 128
# Chunks that come faster than this are batched into one `chunks` message; slower ones go one by one.
FLUSH_INTERVAL_S = 0.005
# A printed line longer than this without a newline is sent as it is, so memory stays bounded.
MAX_PENDING_LINE = 64 * 1024

# The run a line of output belongs to. Set in each run's task; copied into the worker threads that
# run its sync code, so print() and logging there know their run too.
CURRENT_RUN: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("cerebrium_run_id", default=None)


# ---------------------------------------------------------------------------------------------------
# The channel: JSON lines on fd 3
# ---------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------
# JSON encoding of results and chunks
# ---------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------

_ASYNCIO_DIR = os.path.dirname(asyncio.__file__)
_CONCURRENT_DIR = os.path.dirname(sys.modules[ThreadPoolExecutor.__module__].__file__ or "")


def _is_machinery_frame(filename: str) -> bool:
    """Frames of this file and of what calls user code for it, which say nothing about the user's bug."""
    return (
        filename == __file__
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


# ---------------------------------------------------------------------------------------------------
# Output capture: print() and logging become `log` messages
# ---------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------
# Importing main.py
# ---------------------------------------------------------------------------------------------------


def import_main(app_dir: str) -> types.ModuleType:
    """Imports APP_DIR/main.py as module `main`, with the app folder first on sys.path (in place of
    this file's folder) so main.py's own imports find the app's modules."""
    path = os.path.join(app_dir, "main.py")
    if sys.path:
        sys.path[0] = app_dir
    else:
        sys.path.insert(0, app_dir)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No main.py in {app_dir}")
    spec = importlib.util.spec_from_file_location("main", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"Cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as `import main` would: dataclasses and pickle look it up by name.
    sys.modules["main"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop("main", None)
        raise
    return module


# ---------------------------------------------------------------------------------------------------
# Exports and parameter schemas (inspect)
# ---------------------------------------------------------------------------------------------------

_NoneType = type(None)
_UnionType = getattr(types, "UnionType", None)  # X | Y, Python 3.10+
_Annotated = getattr(typing, "Annotated", None)

# The hints that are checked, by name too for annotations that cannot be evaluated
# (`int | None` under `from __future__ import annotations` on Python 3.9).
_SCHEMA_BY_TYPE: Dict[Any, Dict[str, Any]] = {
    int: {"type": "integer"},
    float: {"type": "number"},
    str: {"type": "string"},
    bool: {"type": "boolean"},
    list: {"type": "array"},
    dict: {"type": "object"},
}
_SCHEMA_BY_NAME: Dict[str, Dict[str, Any]] = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "str": {"type": "string"},
    "bool": {"type": "boolean"},
    "list": {"type": "array"},
    "List": {"type": "array"},
    "dict": {"type": "object"},
    "Dict": {"type": "object"},
}


# Keywords that a null would have to satisfy too, were "null" just added to the schema's "type".
_NOT_TYPE_WIDENABLE = ("enum", "const", "anyOf", "oneOf", "allOf", "not", "if", "$ref")


def _nullable(schema: Dict[str, Any]) -> Dict[str, Any]:
    """A schema that also takes null; an unconstrained one stays unconstrained."""
    if not schema:
        return {}
    if {"type": "null"} in schema.get("anyOf", []):
        return schema
    kind = schema.get("type")
    if kind is None or any(key in schema for key in _NOT_TYPE_WIDENABLE):
        # A model's schema may be a $ref, a union or a const, which "type" alone cannot widen.
        return {"anyOf": [schema, {"type": "null"}]}
    kinds = list(kind) if isinstance(kind, list) else [kind]
    if "null" not in kinds:
        kinds.append("null")
    return {**schema, "type": kinds}


def _union_schema(members: List[Dict[str, Any]], has_none: bool) -> Dict[str, Any]:
    """Optional[X] is X's schema with null allowed; any other union is not checked."""
    if len(members) != 1:
        return {}
    return _nullable(members[0]) if has_none else dict(members[0])


def schema_for_hint(hint: Any, defs: Optional["_HoistedDefs"] = None) -> Dict[str, Any]:
    """JSON Schema of one parameter's type hint; {} (anything) for hints that are not checked.
    A model's recursive definitions go into `defs`, the parameters schema's top-level $defs."""
    if hint is inspect.Parameter.empty or hint is Any:
        return {}
    if isinstance(hint, str):
        return schema_for_text(hint)
    if isinstance(hint, typing.ForwardRef):
        return schema_for_text(hint.__forward_arg__)
    if model_class(hint) is not None:
        return model_schema(hint, defs if defs is not None else _HoistedDefs())
    origin = typing.get_origin(hint)
    if _Annotated is not None and origin is _Annotated:
        return schema_for_hint(typing.get_args(hint)[0], defs)
    if origin is typing.Union or (_UnionType is not None and isinstance(hint, _UnionType)):
        args = typing.get_args(hint)
        members = [schema_for_hint(a, defs) for a in args if a is not _NoneType]
        return _union_schema(members, has_none=_NoneType in args)
    target = origin if origin is not None else hint
    try:
        schema = _SCHEMA_BY_TYPE.get(target)
    except TypeError:  # an unhashable hint object
        schema = None
    return dict(schema) if schema else {}


# --- pydantic models (duck-typed: the bridge never imports pydantic) ---


def model_class(hint: Any) -> Optional[type]:
    """The hint itself when it is a model class: a class with callable model_json_schema and
    model_validate (a pydantic v2 BaseModel or RootModel subclass); otherwise None."""
    if not isinstance(hint, type):
        return None
    if callable(getattr(hint, "model_json_schema", None)) and callable(getattr(hint, "model_validate", None)):
        return hint
    return None


def model_parameter(hint: Any) -> Optional[typing.Tuple[type, bool]]:
    """(model class, whether None is allowed) for a hint that is a model, Optional[model] or
    Annotated[model, ...]; None for any other hint (a List[Model] is passed as JSON decoded it)."""
    if isinstance(hint, (str, typing.ForwardRef)) or hint is inspect.Parameter.empty:
        return None
    found = model_class(hint)
    if found is not None:
        return found, False
    origin = typing.get_origin(hint)
    if _Annotated is not None and origin is _Annotated:
        return model_parameter(typing.get_args(hint)[0])
    if origin is typing.Union or (_UnionType is not None and isinstance(hint, _UnionType)):
        args = typing.get_args(hint)
        others = [a for a in args if a is not _NoneType]
        if len(others) == 1 and len(others) < len(args):
            inner = model_parameter(others[0])
            if inner is not None:
                return inner[0], True
    return None


class _HoistedDefs:
    """The $defs of a parameters schema: the definitions of recursive models, which cannot be inlined.
    Every other $ref is replaced by what it refers to, so that a schema is whole where it is embedded
    (in /openapi.json too)."""

    def __init__(self) -> None:
        self.schemas: Dict[str, Any] = {}
        self._sources: Dict[str, str] = {}

    def copy(self) -> "_HoistedDefs":
        copied = _HoistedDefs()
        copied.schemas = dict(self.schemas)
        copied._sources = dict(self._sources)
        return copied

    def take(self, other: "_HoistedDefs") -> None:
        self.schemas = other.schemas
        self._sources = other._sources

    def name_for(self, name: str, source: Any) -> str:
        """A name under $defs for a definition; another model's different definition of the same name
        (two classes called Node) gets Node_2."""
        text = json.dumps(source, sort_keys=True, default=str)
        candidate, n = name, 1
        while candidate in self._sources and self._sources[candidate] != text:
            n += 1
            candidate = f"{name}_{n}"
        self._sources[candidate] = text
        return candidate


_REF_PREFIXES = ("#/$defs/", "#/definitions/")
# Keywords whose value is one schema, a list of schemas or a name → schema map.
_ONE_SCHEMA = (
    "additionalProperties",
    "additionalItems",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
    "items",
)
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_SCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas")
# What is kept of a $ref's siblings when the $ref is inlined over them: annotations only.
_ANNOTATIONS = ("title", "description", "examples", "deprecated", "readOnly", "writeOnly")


def _def_name(ref: Any) -> Optional[str]:
    if isinstance(ref, str):
        for prefix in _REF_PREFIXES:
            if ref.startswith(prefix):
                return ref[len(prefix):].replace("~1", "/").replace("~0", "~")
    return None


def _refs_in(node: Any) -> typing.Iterator[str]:
    if isinstance(node, dict):
        name = _def_name(node.get("$ref"))
        if name is not None:
            yield name
        for value in node.values():
            yield from _refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs_in(value)


def _recursive_defs(definitions: Dict[str, Any]) -> typing.Set[str]:
    """The definitions that refer back to themselves, directly or through others."""
    edges = {name: set(_refs_in(schema)) for name, schema in definitions.items()}
    recursive = set()
    for start in definitions:
        seen: typing.Set[str] = set()
        todo = list(edges[start])
        while todo:
            name = todo.pop()
            if name == start:
                recursive.add(start)
                break
            if name in seen or name not in edges:
                continue
            seen.add(name)
            todo.extend(edges[name])
    return recursive


# Escapes that mean the same in JavaScript (u flag, which Ajv compiles `pattern` with) as in Python and
# Rust (pydantic's regex engines).
_JS_SAME_ESCAPES = set("sSnrtfv0^$\\.*+?()[]{}|/")
# Python and Rust read \d and \w as Unicode classes, JavaScript as ASCII ones: they are spelt out, so the
# server never refuses what the model takes.
_UNICODE_DIGIT = r"\p{Nd}"
_UNICODE_WORD = r"\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}"
_GROUP_OPENINGS = ("(?:", "(?=", "(?!", "(?<=", "(?<!")


def js_pattern(pattern: str) -> Optional[str]:
    r"""The pattern written for Ajv, so that it takes at least what the model's regex takes; None where
    that cannot be said (Python and Rust syntax such as \A, \z, (?i), (?P=x), possessive quantifiers or
    [[:alpha:]] would fail to compile in JavaScript, failing the app's load, or mean something else).
    The model still checks every pattern before the call."""
    out: List[str] = []
    i, n = 0, len(pattern)
    in_class = False
    quantifiable = False
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                return None
            nxt = pattern[i + 1]
            if nxt in "ux" and _re_hex(pattern, i + 2, 4 if nxt == "u" else 2):
                size = 6 if nxt == "u" else 4
                out.append(pattern[i : i + size])
                i += size
            elif nxt in _JS_SAME_ESCAPES or (in_class and nxt in "-b"):
                out.append(pattern[i : i + 2])
                i += 2
            elif not nxt.isalnum():
                out.append(nxt)  # \- or \# is the character itself; JavaScript's u mode refuses the escape
                i += 2
            elif nxt in "dD":
                out.append(_UNICODE_DIGIT if nxt == "d" else r"\P{Nd}")
                i += 2
            elif nxt == "w":
                out.append(_UNICODE_WORD if in_class else f"[{_UNICODE_WORD}]")
                i += 2
            elif nxt == "W" and not in_class:
                out.append(f"[^{_UNICODE_WORD}]")
                i += 2
            else:
                return None  # \b and \B are ASCII word boundaries in JavaScript; \A, \z, \p…, \1 …
            quantifiable = True
            continue
        if in_class:
            if ch == "[":
                return None  # a nested class or [:alpha:]: a set operation in some engines, literal in others
            if ch == "]":
                in_class = False
                quantifiable = True
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            start = i + 1
            if pattern.startswith("^", start):
                start += 1
            if pattern.startswith("]", start):
                return None  # []…] is a class holding "]" in Python, an empty class in JavaScript
            in_class = True
            out.append(pattern[i:start])
            i = start
            continue
        if ch == "(":
            if pattern.startswith("(?P<", i):
                out.append("(?<")
                i += 4
            elif pattern.startswith("(?", i) and not pattern.startswith(_GROUP_OPENINGS, i):
                named = pattern.startswith("(?<", i) and i + 3 < n and (pattern[i + 3].isalpha() or pattern[i + 3] == "_")
                if not named:
                    return None  # inline flags, atomic groups, (?P=name), comments
                out.append(ch)
                i += 1
            else:
                out.append(ch)
                i += 1
            quantifiable = False
            continue
        if ch in "*+?{":
            if not quantifiable:
                return None
            if ch == "{":
                j = pattern.find("}", i)
                low, _, high = pattern[i + 1 : j].partition(",") if j > 0 else ("", "", "")
                if not low.isdigit() or not (high == "" or high.isdigit()):
                    return None  # a literal { is an error in JavaScript's u mode
                out.append(pattern[i : j + 1])
                i = j + 1
            else:
                out.append(ch)
                i += 1
            if i < n and pattern[i] == "?":
                out.append("?")
                i += 1
            if i < n and pattern[i] == "+":
                return None  # possessive
            quantifiable = False
            continue
        if ch in "}]":
            return None
        if ch == ".":
            out.append(r"[^\n]")  # JavaScript's . also stops at \r, \u2028 and \u2029
        else:
            out.append(ch)
        quantifiable = ch not in "|^$"  # JavaScript's u mode refuses a quantifier after these
        i += 1
    if in_class:
        return None
    return "".join(out)


def _re_hex(text: str, start: int, count: int) -> bool:
    digits = text[start : start + count]
    return len(digits) == count and all(c in "0123456789abcdefABCDEF" for c in digits)


class _ModelSchemaBuilder:
    """Turns a model's model_json_schema() into a schema the server's Ajv (draft-07, strict off,
    useDefaults) takes and checks the same way pydantic would, or more loosely, never more strictly."""

    def __init__(self, definitions: Dict[str, Any], hoisted: _HoistedDefs) -> None:
        self.definitions = definitions
        self.hoisted = hoisted
        self.recursive = _recursive_defs(definitions)
        self.hoisted_names: Dict[str, str] = {}
        self.inlined: Dict[str, Any] = {}

    def ref(self, name: str) -> Dict[str, Any]:
        if name not in self.definitions:
            return {}  # a $ref we cannot resolve is not checked (Ajv would refuse to compile it)
        if name in self.recursive:
            final = self.hoisted_names.get(name)
            if final is None:
                final = self.hoisted.name_for(name, self.definitions[name])
                self.hoisted_names[name] = final
                if final not in self.hoisted.schemas:
                    self.hoisted.schemas[final] = {}  # taken before it is built: it refers to itself
                    self.hoisted.schemas[final] = self.build(self.definitions[name])
            return {"$ref": "#/$defs/" + final.replace("~", "~0").replace("/", "~1")}
        if name not in self.inlined:
            self.inlined[name] = self.build(self.definitions[name])
        return json.loads(json.dumps(self.inlined[name]))  # a copy, for it may be edited below

    def build(self, node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        out: Dict[str, Any] = {}
        unchecked_keys = False
        for key, value in node.items():
            if key in ("default", "format", "$defs", "definitions", "$schema", "$id"):
                # default: Ajv would put it into the body (and check it, where pydantic does not);
                # format: Ajv here knows no formats; pydantic checks both.
                continue
            if key == "$ref":
                continue
            if key == "pattern":
                written = js_pattern(value) if isinstance(value, str) else None
                if written is not None:
                    out[key] = written
                continue
            if key == "discriminator" and isinstance(value, dict):
                # Its mapping names $defs that are inlined now; propertyName alone still says it.
                out[key] = {k: v for k, v in value.items() if k != "mapping"}
                continue
            if key == "patternProperties" and isinstance(value, dict):
                written = {js_pattern(name): schema for name, schema in value.items()}
                if None in written:
                    # Unchecked here (the model still checks it); and the keys it took must not meet
                    # additionalProperties instead.
                    unchecked_keys = True
                else:
                    out[key] = {name: self.build(schema) for name, schema in written.items()}
            elif key in _SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {name: self.build(schema) for name, schema in value.items()}
            elif key in _SCHEMA_LISTS and isinstance(value, list):
                out[key] = [self.build(item) for item in value]
            elif key in _ONE_SCHEMA and isinstance(value, dict):
                out[key] = self.build(value)
            else:
                out[key] = value
        if unchecked_keys:
            out.pop("additionalProperties", None)
        name = _def_name(node.get("$ref"))
        if "$ref" not in node:
            return out
        target = self.ref(name) if name is not None else {}
        if "$ref" in target or any(key in target for key in out if key not in _ANNOTATIONS):
            # Kept apart so neither overrides the other's checks.
            return {"allOf": [target], **out} if out else target
        return {**target, **out}


def model_schema(model: type, hoisted: _HoistedDefs) -> Dict[str, Any]:
    """The JSON Schema of a model parameter, from model_json_schema(); {} (unchecked here, still
    validated by the model before the call) where there is none to give."""
    try:
        raw = model.model_json_schema()  # type: ignore[attr-defined]
        if not isinstance(raw, dict):
            return {}
        definitions: Dict[str, Any] = {}
        for key in ("definitions", "$defs"):
            if isinstance(raw.get(key), dict):
                definitions.update(raw[key])
        staged = hoisted.copy()  # kept only when the whole schema could be made
        schema = _ModelSchemaBuilder(definitions, staged).build(raw)
        # Must go over the protocol as JSON: no NaN or infinities, nothing json cannot encode.
        json.dumps([schema, staged.schemas], allow_nan=False)
    except Exception:
        return {}
    hoisted.take(staged)
    return schema


def _split_top_level(text: str, separator: str) -> List[str]:
    """Splits at separators outside brackets: "Dict[str, int], None" → ["Dict[str, int]", " None"]."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def schema_for_text(text: str) -> Dict[str, Any]:
    """The same as schema_for_hint, for an annotation left as a string that could not be evaluated."""
    text = text.strip().strip("'\"")
    alternatives = _split_top_level(text, "|")
    if len(alternatives) > 1:
        return _text_union(alternatives)
    name, _, args = text.partition("[")
    name = name.strip().rsplit(".", 1)[-1]  # typing.Optional → Optional
    args = args[:-1] if args.endswith("]") else args
    if name == "Optional" and args:
        return _text_union([args, "None"])
    if name == "Union" and args:
        return _text_union(_split_top_level(args, ","))
    if name == "Annotated" and args:
        return schema_for_text(_split_top_level(args, ",")[0])
    schema = _SCHEMA_BY_NAME.get(name)
    return dict(schema) if schema else {}


def _text_union(alternatives: List[str]) -> Dict[str, Any]:
    none_names = {"None", "NoneType"}
    members = [schema_for_text(a) for a in alternatives if a.strip() not in none_names]
    has_none = any(a.strip() in none_names for a in alternatives)
    return _union_schema(members, has_none)


def _parameter_hints(fn: Callable[..., Any]) -> Dict[str, Any]:
    """Evaluated type hints of a function; per annotation where the whole set cannot be evaluated
    (one unresolvable forward reference must not lose the others), and the raw text as a last resort."""
    try:
        return typing.get_type_hints(fn)
    except Exception:
        pass
    target = inspect.unwrap(fn)
    hints: Dict[str, Any] = {}
    namespace = getattr(target, "__globals__", {})
    for name, annotation in getattr(target, "__annotations__", {}).items():
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, namespace)  # what get_type_hints does, one at a time
            except Exception:
                pass
        hints[name] = annotation
    return hints


def _json_scalar(value: Any) -> bool:
    if type(value) is float:
        return math.isfinite(value)
    return type(value) in (bool, int, str)


def _default_fits(schema: Dict[str, Any], value: Any) -> bool:
    """Whether a default value is valid under its parameter's schema (Ajv applies defaults)."""
    kind = schema.get("type")
    if kind is None:
        return True
    kinds = kind if isinstance(kind, list) else [kind]
    if type(value) is bool:
        return "boolean" in kinds
    if type(value) is int:
        return "integer" in kinds or "number" in kinds
    if type(value) is float:
        return "number" in kinds or ("integer" in kinds and value.is_integer())
    return "string" in kinds


def params_schema(fn: Callable[..., Any]) -> Dict[str, Any]:
    """The JSON Schema of a function's keyword arguments, for the server's Ajv check of the body."""
    signature = inspect.signature(fn)
    hints = _parameter_hints(fn)
    defs = _HoistedDefs()
    properties: Dict[str, Any] = {}
    required: List[str] = []
    takes_kwargs = False
    for name, param in signature.parameters.items():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            takes_kwargs = True
            continue
        if param.kind not in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            continue  # *args and positional-only parameters cannot come from a JSON object
        schema = schema_for_hint(hints.get(name, param.annotation), defs)
        if param.default is inspect.Parameter.empty:
            if name != "run_id":  # the bridge fills it in
                required.append(name)
        elif param.default is None:
            # `x: int = None` means "an int or nothing": a null in the body is the default.
            schema = _nullable(schema)
        elif name != "run_id" and _json_scalar(param.default) and _default_fits(schema, param.default):
            schema["default"] = param.default
        properties[name] = schema
    result: Dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        result["required"] = required
    # Explicit either way: the server treats a schema without it as closed.
    result["additionalProperties"] = takes_kwargs
    if defs.schemas:
        result["$defs"] = defs.schemas  # recursive models' definitions, for "#/$defs/Name"
    return result


def function_kind(fn: Callable[..., Any]) -> str:
    """'async-generator', 'generator' or 'function'; a decorator made with functools.wraps is seen through."""
    for candidate in (fn, inspect.unwrap(fn)):
        if inspect.isasyncgenfunction(candidate):
            return "async-generator"
        if inspect.isgeneratorfunction(candidate):
            return "generator"
    return "function"


def _description(fn: Callable[..., Any]) -> Optional[str]:
    doc = inspect.getdoc(fn)
    if not doc:
        return None
    for line in doc.splitlines():
        if line.strip():
            return line.strip()
    return None


def _is_imported_noise(value: Any, module_name: str) -> bool:
    """Module-level names that came in with imports and are no concern of the caller: modules, classes
    and builtins from elsewhere, typing constructs, `from __future__` features."""
    if inspect.ismodule(value):
        return True
    if isinstance(value, type):
        return value.__module__ != module_name
    if inspect.isbuiltin(value) or inspect.isroutine(value):
        return getattr(value, "__module__", module_name) != module_name
    return type(value).__module__ in ("typing", "typing_extensions", "__future__")


def list_exports(module: types.ModuleType) -> List[Dict[str, Any]]:
    """ExportInfo of each module-level name: every function defined in main.py (private ones too, so
    the server can say "private"), and the public names that are not functions (so it can say "not a
    function"). Functions imported from elsewhere are not endpoints."""
    exports: List[Dict[str, Any]] = []
    for name, value in list(vars(module).items()):
        if name.startswith("__") and name.endswith("__"):
            continue  # __builtins__, __getattr__ and the like are the module's, not endpoints
        # Only functions defined in main.py are endpoints: `from os import system` must not become one.
        if inspect.isfunction(value) and value.__module__ == module.__name__:
            info: Dict[str, Any] = {"name": name, "file": "main.py", "kind": function_kind(value)}
            try:
                info["paramsSchema"] = params_schema(value)
            except (TypeError, ValueError):
                pass  # no signature to read: the body is not checked
            description = _description(value)
            if description:
                info["description"] = description
            exports.append(info)
        elif not name.startswith("_") and not _is_imported_noise(value, module.__name__):
            exports.append({"name": name, "file": "main.py", "kind": "not-a-function"})
    return exports


# ---------------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------------


class Aborted(Exception):
    """Raised by the bridge when it stops a run itself (a generator it stopped walking)."""


class Run:
    """One call in flight. Its state is touched from three threads: the reader (abort, credit), the
    event loop (the run's task) and, for sync code, a worker thread; `cond` guards the credits."""

    def __init__(self, replica: "Replica", message: Dict[str, Any]) -> None:
        self.replica = replica
        self.id: str = message["runId"]
        self.function_name: str = message.get("functionName", "")
        params = message.get("params")
        self.params: Dict[str, Any] = params if isinstance(params, dict) else {}
        stream = message.get("stream")
        self.stream: Optional[str] = stream if stream in ("raw", "sse") else None
        self.task: Optional[asyncio.Task] = None
        self.aborted = False
        self.abort_reason = "aborted"
        # True while the task waits on something a CancelledError may interrupt (user coroutines, the
        # credit gate); False while a worker thread runs sync code, which cannot be interrupted.
        self.cancellable = False
        self.cancel_sent = False
        self.cond = threading.Condition()
        self.credits = CHUNK_CREDIT_WINDOW
        self.credit_waiter: Optional[asyncio.Future] = None
        self.sink: Optional[ChunkSink] = None

    # --- from the reader thread ---

    def abort(self, reason: str) -> None:
        with self.cond:
            self.aborted = True
            self.abort_reason = reason
            self.cond.notify_all()
        self._wake_credit_waiter()
        self.replica.loop.call_soon_threadsafe(self._cancel_task)

    def add_credit(self, n: int) -> None:
        with self.cond:
            self.credits += n
            self.cond.notify_all()
        self._wake_credit_waiter()

    def _wake_credit_waiter(self) -> None:
        waiter = self.credit_waiter
        if waiter is not None:
            self.replica.loop.call_soon_threadsafe(_resolve, waiter)

    # --- on the event loop ---

    def _cancel_task(self) -> None:
        # Only while the task awaits user async code or credits: a cancel at any other point would
        # land in the bridge's own steps (or in an await on a worker thread that would go on anyway).
        if self.cancellable and not self.cancel_sent and self.task is not None:
            self.cancel_sent = True
            self.task.cancel()

    async def cancellable_await(self, awaitable: Any) -> Any:
        if self.aborted:
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise Aborted()
        self.cancellable = True
        try:
            return await awaitable
        finally:
            self.cancellable = False

    async def take_credit_async(self) -> bool:
        """Waits for a credit on the loop; False when the run was aborted meanwhile."""
        while True:
            with self.cond:
                if self.aborted:
                    return False
                if self.credits > 0:
                    self.credits -= 1
                    return True
                waiter = self.replica.loop.create_future()
                self.credit_waiter = waiter
            # The server only gives credit for chunks it has: send what is batched before waiting.
            if self.sink is not None:
                self.sink.flush()
            try:
                await self.cancellable_await(waiter)
            finally:
                self.credit_waiter = None

    # --- on a worker thread ---

    def take_credit_blocking(self) -> bool:
        """Waits for a credit on a worker thread; False when the run was aborted meanwhile."""
        with self.cond:
            if self.credits > 0 and not self.aborted:
                self.credits -= 1
                return True
        if self.sink is not None:
            self.sink.flush()
        with self.cond:
            while self.credits <= 0 and not self.aborted:
                self.cond.wait()
            if self.aborted:
                return False
            self.credits -= 1
            return True


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


class ChunkSink:
    """Sends a streaming run's chunks in batches. A chunk that follows the last send by at least
    FLUSH_INTERVAL_S goes at once (a slow generator costs no latency); faster ones gather and go
    together when the generator next blocks (async) or FLUSH_INTERVAL_S after the last send (sync)."""

    def __init__(self, run: Run, encoding: str) -> None:
        self._run = run
        self._encoding = encoding
        self._loop = run.replica.loop
        self._channel = run.replica.channel
        self._prefix = '{"type":"chunks","runId":' + json.dumps(run.id) + ',"data":['
        self._lock = threading.Lock()
        self._batch: List[str] = []
        self._last_flush = 0.0
        self._flush_scheduled = False
        self._closed = False
        self.count = 0

    def add(self, chunk: Any, on_loop: bool) -> None:
        """Encodes and queues a chunk (the caller has taken its credit); raises NotSerialisable."""
        try:
            value = to_sse_frame(chunk) if self._encoding == "sse" else chunk
            text = encode_json(value)
        except NotSerialisable as err:
            raise NotSerialisable(f"{err} (chunk {self.count + 1})") from None
        with self._lock:
            if self._closed:
                return
            self._batch.append(text)
            self.count += 1
            now = time.monotonic()
            since_flush = now - self._last_flush
            if since_flush >= FLUSH_INTERVAL_S:
                self._flush_locked(now)
            elif not self._flush_scheduled:
                self._flush_scheduled = True
                if on_loop:
                    # Runs as soon as the generator awaits something, like setImmediate in replica.ts.
                    self._loop.call_soon(self.flush)
                else:
                    delay = FLUSH_INTERVAL_S - since_flush
                    self._loop.call_soon_threadsafe(self._loop.call_later, delay, self.flush)

    def flush(self) -> None:
        with self._lock:
            self._flush_scheduled = False
            self._flush_locked(time.monotonic())

    def close(self) -> None:
        """Sends what is left, before the run's `end`; nothing is sent after."""
        with self._lock:
            self._flush_locked(time.monotonic())
            self._closed = True

    def _flush_locked(self, now: float) -> None:
        # Sent under the sink's lock, so batches leave in the order they were made.
        if not self._batch:
            return
        text = self._prefix + ",".join(self._batch) + "]}"
        self._batch = []
        self._last_flush = now
        self._channel.send_text(text)


_NOTHING = object()


class Replica:
    """Serves runs: one asyncio event loop on its own thread for every run's task (async functions and
    async generators run there, concurrently), and a pool of CONCURRENCY threads for sync code."""

    def __init__(self, channel: Channel, concurrency: int, writers: tuple) -> None:
        self.channel = channel
        # Set once main.py is imported. The loop and the pool are made before that, so that what they
        # log as they start is not mistaken for the app's output under the app's logging settings.
        self.module: Optional[types.ModuleType] = None
        self.writers = writers
        self.pid = os.getpid()
        self.runs: Dict[str, Run] = {}
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="cerebrium-run")
        self.loop = asyncio.new_event_loop()
        self._wants_run_id: Dict[str, bool] = {}
        self._model_params: Dict[str, Dict[str, typing.Tuple[type, bool]]] = {}
        # Messages that arrive during the import (a server may send a run as soon as it has started
        # the process) wait here, and are dispatched in order once the replica is ready.
        self._ready = False
        self._early: List[Dict[str, Any]] = []
        self._ready_lock = threading.Lock()
        threading.Thread(target=self._run_loop, name="cerebrium-loop", daemon=True).start()

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    # --- the reader thread ---

    def serve_forever(self) -> None:
        for raw in self.channel.lines():
            try:
                message = json.loads(raw)
            except ValueError:
                print(f"cerebrium bridge: not a JSON line: {raw[:200]!r}", file=sys.__stderr__)
                continue
            if isinstance(message, dict):
                with self._ready_lock:
                    if self._ready:
                        self._dispatch(message)
                    else:
                        self._early.append(message)
        # EOF: the server is gone (or has closed our channel to stop us).
        os._exit(0)

    def announce_ready(self) -> None:
        """Says `ready` (main.py is imported), then serves whatever came during the import."""
        with self._ready_lock:
            self.channel.send({"type": "ready", "pid": self.pid, "python": platform.python_version()})
            for message in self._early:
                self._dispatch(message)
            self._early = []
            self._ready = True

    def _dispatch(self, message: Dict[str, Any]) -> None:
        kind = message.get("type")
        run_id = message.get("runId")
        if not isinstance(run_id, str):
            return
        if kind == "run":
            if run_id in self.runs:
                return
            run = Run(self, message)
            self.runs[run_id] = run
            self.channel.send({"type": "started", "runId": run_id, "replica": self.pid})
            self.loop.call_soon_threadsafe(self._start, run)
            return
        run = self.runs.get(run_id)
        if run is None:
            return  # ended already
        if kind == "abort":
            run.abort(str(message.get("reason", "aborted")))
        elif kind == "credit":
            n = message.get("n")
            if isinstance(n, int) and n > 0:
                run.add_credit(n)

    # --- on the event loop ---

    def _start(self, run: Run) -> None:
        # The task runs in a context of its own where CURRENT_RUN is this run; the task copies it, and
        # every worker-thread call below copies it again.
        context = contextvars.copy_context()
        context.run(CURRENT_RUN.set, run.id)
        run.task = context.run(self.loop.create_task, self._execute(run))

    async def _execute(self, run: Run) -> None:
        started = time.perf_counter()
        value: Any = _NOTHING
        error: Optional[BaseException] = None
        try:
            value = await self._invoke(run)
        except BaseException as err:  # CancelledError and SystemExit too: they end the run, not the loop
            error = err
        run_time_ms = (time.perf_counter() - started) * 1000
        try:
            result = self._result(run, value, error, run_time_ms)
        except BaseException as err:
            result = {"ok": False, "error": serialise_exception(err), "runTimeMs": run_time_ms}
        if run.sink is not None:
            run.sink.close()
        for writer in self.writers:
            writer.flush_run(run.id)
        self.runs.pop(run.id, None)
        self.channel.send({"type": "end", "runId": run.id, "result": result})

    def _result(self, run: Run, value: Any, error: Optional[BaseException], run_time_ms: float) -> Dict[str, Any]:
        if run.aborted and (error is None or isinstance(error, (Aborted, asyncio.CancelledError))):
            # Stopped by the abort (or finished after it, which the server no longer waits for).
            abort_error = {"name": "AbortError", "message": run.abort_reason, "aborted": True}
            return {"ok": False, "error": abort_error, "runTimeMs": run_time_ms}
        if isinstance(error, NotSerialisable):
            return {"ok": False, "error": _not_serialisable_error(str(error)), "runTimeMs": run_time_ms}
        if error is not None:
            serialised = serialise_exception(error)
            if run.aborted:
                serialised["aborted"] = True
            return {"ok": False, "error": serialised, "runTimeMs": run_time_ms}
        try:
            json_text = encode_json(value)
        except NotSerialisable as err:
            return {"ok": False, "error": _not_serialisable_error(str(err)), "runTimeMs": run_time_ms}
        result: Dict[str, Any] = {"ok": True, "json": json_text, "runTimeMs": run_time_ms}
        if isinstance(value, dict):
            status_code = value.get("status_code")
            if type(status_code) is int and 100 <= status_code <= 599:
                result["statusCode"] = status_code
        return result

    async def _in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Runs sync code on the pool, in a copy of this run's context (so its prints are tagged)."""
        context = contextvars.copy_context()
        return await self.loop.run_in_executor(self.pool, functools.partial(context.run, fn, *args))

    def _wants_run_id_param(self, name: str, fn: Callable[..., Any]) -> bool:
        wants = self._wants_run_id.get(name)
        if wants is None:
            try:
                param = inspect.signature(fn).parameters.get("run_id")
            except (TypeError, ValueError):
                param = None
            wants = param is not None and param.kind in (
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                inspect.Parameter.KEYWORD_ONLY,
            )
            self._wants_run_id[name] = wants
        return wants

    def _models_of(self, name: str, fn: Callable[..., Any]) -> Dict[str, typing.Tuple[type, bool]]:
        """The parameters of a function that are models (pydantic), by name, with whether None is allowed."""
        models = self._model_params.get(name)
        if models is None:
            models = {}
            try:
                parameters = inspect.signature(fn).parameters
                hints = _parameter_hints(fn)
            except (TypeError, ValueError):
                parameters, hints = {}, {}  # type: ignore[assignment]
            for key, param in parameters.items():
                if param.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
                    found = model_parameter(hints.get(key, param.annotation))
                    if found is not None:
                        # `item: Item = None` takes null too, as its schema says.
                        models[key] = (found[0], found[1] or param.default is None)
            self._model_params[name] = models
        return models

    async def _invoke(self, run: Run) -> Any:
        if run.aborted:
            raise Aborted()  # aborted before it began: run nothing
        fn = getattr(self.module, run.function_name, None) if run.function_name else None
        if fn is None or not callable(fn):
            raise LookupError(f'Function "{run.function_name}" is not a function of main.py')
        kwargs = dict(run.params)
        if "run_id" not in kwargs and self._wants_run_id_param(run.function_name, fn):
            kwargs["run_id"] = run.id
        models = self._models_of(run.function_name, fn)

        # Coroutine and generator functions only build an object when called: that happens here.
        # Anything else is user code that may block, so it runs on a worker thread, with the
        # validation of its model arguments (whose validators are user code too).
        if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn):
            value = fn(**_validate_models(kwargs, models))
        else:
            value = await self._in_thread(lambda: fn(**_validate_models(kwargs, models)))

        # What came back decides the rest, as in replica.ts (a decorated function may return any of these).
        if inspect.isawaitable(value) and not inspect.isasyncgen(value):
            value = await run.cancellable_await(value)
        if inspect.isasyncgen(value):
            return await self._walk_async_gen(run, value)
        if inspect.isgenerator(value):
            return await self._in_thread(self._walk_sync_gen, run, value)
        return value

    async def _walk_async_gen(self, run: Run, agen: Any) -> Any:
        gathered: List[Any] = []
        if run.stream:
            run.sink = ChunkSink(run, run.stream)
        try:
            while True:
                try:
                    chunk = await run.cancellable_await(agen.__anext__())
                except StopAsyncIteration:
                    break
                if run.aborted:
                    raise Aborted()
                if run.sink is None:
                    gathered.append(chunk)
                    continue
                if not await run.take_credit_async():
                    raise Aborted()
                run.sink.add(chunk, on_loop=True)
        finally:
            # Runs the generator's `finally` when we stopped early (abort, a chunk that cannot be
            # encoded); a no-op when it ended by itself or the CancelledError went through it.
            await agen.aclose()
        return _chunks_result(run, gathered)

    def _walk_sync_gen(self, run: Run, gen: Any) -> Any:
        """On a worker thread: walks a generator; an abort stops it at its next yield."""
        gathered: List[Any] = []
        if run.stream:
            run.sink = ChunkSink(run, run.stream)
        try:
            for chunk in gen:
                if run.aborted:
                    raise Aborted()
                if run.sink is None:
                    gathered.append(chunk)
                    continue
                if not run.take_credit_blocking():
                    raise Aborted()
                run.sink.add(chunk, on_loop=False)
        finally:
            gen.close()  # the generator's `finally` runs here, on the thread that walked it
        return _chunks_result(run, gathered)


def _validate_models(kwargs: Dict[str, Any], models: Dict[str, typing.Tuple[type, bool]]) -> Dict[str, Any]:
    """The arguments with each model parameter's JSON turned into an instance by Model.model_validate.
    Its ValidationError (from a validator the JSON Schema could not express) fails the run as the
    function's own exception would."""
    for key, (model, optional) in models.items():
        if key in kwargs and not (optional and kwargs[key] is None):
            kwargs[key] = model.model_validate(kwargs[key])  # type: ignore[attr-defined]
    return kwargs


def _chunks_result(run: Run, gathered: List[Any]) -> Any:
    """A streamed run's result counts its chunks; gathered str chunks are joined, others are a list."""
    if run.sink is not None:
        return {"chunks": run.sink.count}
    if all(isinstance(chunk, str) for chunk in gathered):
        return "".join(gathered)
    return gathered


# ---------------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------------


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
