"""Runs: Run, ChunkSink and the Replica that reads fd 3 and runs calls."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import json
import math
import os
import platform
import sys
import threading
import time
import types
import typing
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional

from .channel import Channel
from .encoding import NotSerialisable, _not_serialisable_error, encode_json, to_sse_frame
from .errors import serialise_exception
from .output import CURRENT_RUN
from .schema import _parameter_hints, model_parameter

# How many chunks a run may send ahead of what the server has acknowledged. The bridge's own window,
# smaller than a thread replica's (CHUNK_CREDIT_WINDOW) since it has no bound on their size; the
# server credits CHUNK_CREDIT_BATCH (64) at a time, which divides it.
CHUNK_CREDIT_WINDOW = 128
# Chunks that come faster than this are batched into one `chunks` message; slower ones go one by one.
FLUSH_INTERVAL_S = 0.005


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
            # Any number is passed on (bool is not one here): the server checks it is 200-599.
            if type(status_code) in (int, float) and math.isfinite(status_code):
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
