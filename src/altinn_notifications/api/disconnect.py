"""Whether the client has gone, asked without waiting and without a cancel scope."""

from __future__ import annotations

import inspect
from typing import Any

from starlette.requests import Request


async def client_gone(request: Request) -> bool:
    """True when the server has reported the client's disconnect.

    Starlette's `Request.is_disconnected` asks `receive` inside an anyio cancel scope that it cancels at
    once, which costs more than the rest of a v2 order's checks. This steps `receive` once instead: a
    message that is ready is taken (a disconnect), one that is not is not waited for, and the waiting
    `receive` is closed (its `finally` clauses withdraw the wait). A `receive` that is not a coroutine is
    asked Starlette's way.
    """
    pending = request.receive()
    if not inspect.iscoroutine(pending):
        return await request.is_disconnected()
    try:
        pending.send(None)
    except StopIteration as done:
        message: Any = done.value
        return isinstance(message, dict) and message.get("type") == "http.disconnect"
    pending.close()
    return False
