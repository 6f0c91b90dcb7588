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
    runs): the watcher consumes what ``receive()`` returns, so an unread body would be lost."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnect(request))
    try:
        done, _ = await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        if watcher.exception() is not None:  # a server that cannot report disconnects: just wait for the work
            return await task
        task.cancel()
        # Let the work's own cleanup run before the request ends; its outcome has nobody to go to.
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise ClientDisconnected("the client disconnected")
    finally:
        watcher.cancel()  # the watcher never outlives the work
        task.cancel()  # a no-op when done; when our caller was cancelled, the work goes with it


async def _disconnect(request: Request) -> None:
    """Return when the server reports the client gone; body messages, if any are left, are skipped."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
