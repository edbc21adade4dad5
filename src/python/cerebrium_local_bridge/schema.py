"""Exports and parameter schemas (inspect): type hints and pydantic models as JSON Schema."""

from __future__ import annotations

import inspect
import json
import math
import types
import typing
from typing import Any, Callable, Dict, List, Optional


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
