"""Work that stops when the client goes away.

A client that gives up (its timeout, a closed tab, a proxy dropping the connection) would otherwise
keep its place in the batcher's queue and have its texts computed for nobody, ahead of callers who
still wait. The server tells the app by answering ``receive()`` with ``http.disconnect``: the route's
work runs as a task and is cancelled when that message comes. Cancelling it cancels the batcher's
future, so the batcher drops the texts, or stops counting them once an already running call ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

T = TypeVar("T")


class ClientDisconnected(asyncio.CancelledError):
    """The client closed the connection before its answer was ready; nobody is left to answer.

    A ``CancelledError``, so nothing on the way out mistakes it for a failure to handle and answer;
    its own type lets the middleware tell it apart from a server shutting down."""


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """The result of ``work``, or :class:`ClientDisconnected` as soon as the client has gone away.

    Call it once the body has been read (a FastAPI body parameter has read it before the route
    runs): the watcher consumes what ``receive()`` returns, so an unread body would be lost. The work
    runs in the caller's own task, which the watcher cancels: one extra task per request, no more."""
    current = asyncio.current_task()
    assert current is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        with contextlib.suppress(Exception):  # a server that cannot report disconnects: just wait for the work
            await _disconnect(request)
            gone = True
            current.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        result = await work
    except asyncio.CancelledError:
        if gone and current.uncancel() == 0:
            raise ClientDisconnected("the client disconnected") from None
        raise
    finally:
        watcher.cancel()  # the watcher never outlives the work
    if gone:  # the client left while the result was being handed back: nobody to answer
        current.uncancel()
        raise ClientDisconnected("the client disconnected")
    return result


async def _disconnect(request: Request) -> None:
    """Return when the server reports the client gone; body messages, if any are left, are skipped."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
