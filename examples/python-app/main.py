"""The functions of this app, Cortex-style: each module-level function is served at
POST /v4/<projectId>/python-app/<function>, with the JSON body's keys as its keyword arguments.
Names starting with "_" stay private. See README.md for how to call each one.

Importing this module is the replica's cold start: load models here, once, not inside a function.
"""
import asyncio
import logging
import time

logger = logging.getLogger("python-app")


def _pieces(text: str) -> list:
    """Words of a text, each with the space before it, so joining them gives the text back."""
    words = text.split(" ")
    return [words[0]] + [" " + word for word in words[1:]] if words else []


def predict(text: str):
    """A plain function. A body without a string `text` (or with any other key) is a 422 naming the key."""
    logger.info("predicting on %d characters", len(text))
    return {"words": len(text.split()), "reversed": text[::-1]}


def stream(prompt: str, delay: float = 0.05):
    """A generator: with `Accept: text/event-stream`, each yielded string is one Server-Sent Event;
    without it, the pieces come back joined as one result."""
    for piece in _pieces(prompt):
        yield piece
        time.sleep(delay)


async def chat(messages: list, model: str = "echo", stream: bool = False, **kwargs):
    """An OpenAI-style chat function, for POST .../python-app/chat/chat/completions (the OpenAI SDK with
    base URL .../v4/<projectId>/python-app/chat). It echoes the last user message word by word as
    chat.completion.chunk dicts; put a real model's tokens in its place. `stream` and the rest of the
    OpenAI request (temperature, max_tokens, ... in **kwargs) arrive as keyword arguments; the route
    itself decides whether to stream or to assemble one chat.completion from the chunks."""
    last_user = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    base = {"id": f"chatcmpl-{int(time.time() * 1000)}", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    for i, piece in enumerate(_pieces(f"You said: {last_user}")):
        delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
        yield {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        # A caller that leaves (or a runs-API cancel) raises asyncio.CancelledError here.
        await asyncio.sleep(0.02)
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
