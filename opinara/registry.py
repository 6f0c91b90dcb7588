"""Pluggable parts under versioned names (``sentiment.encoder.v1``, ``connector.reddit.v1``), so a stored
row, a config or a queued job keeps its meaning after an upgrade: a new behaviour gets a new name.

One :class:`Registry` per kind of part; a plain dict, as spaCy's is. Factories import what they need
when called, so registering costs nothing at start-up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from opinara.errors import UnknownComponentError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named factories of one kind of part."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """A decorator that registers a factory under ``name`` (a second registration is a bug)."""

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._factories[name] = factory
            return factory

        return decorator

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def get(self, name: str) -> Callable[..., T]:
        try:
            return self._factories[name]
        except KeyError:
            raise UnknownComponentError(
                f"no {self.kind} named {name!r}; known: {', '.join(self.names()) or 'none'}"
            ) from None

    def create(self, name: str, *args: object, **kwargs: object) -> T:
        return self.get(name)(*args, **kwargs)
