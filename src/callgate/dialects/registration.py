"""What a dialect hands the composition root: one `Dialect` per family, looped over by `callgate.app`
(its routes, its faces, the error body of a path no route knows) and by `dialects/openapi.py` (its
part of the OpenAPI document). Only the composition root imports a dialect's package; everything
else sees it through this object.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from callgate.config import Settings
from callgate.core.errors import ApiError
from callgate.engine.faces import Face

Endpoint = Callable[[Request], Awaitable[Response]]


class HotRoutes(Protocol):
    """Routes the app serves before Starlette's router (their dispatcher renders every error itself)."""

    def match(self, path: str) -> tuple[Endpoint, dict[str, str]] | None:
        """The endpoint for `path` and its path parameters, or None."""
        ...


@dataclass(frozen=True, slots=True)
class OpenApiFragment:
    """A dialect's part of the OpenAPI document."""

    paths: Mapping[str, Any]
    schemas: Mapping[str, Any]
    #: a sentence for the document's description
    description: str = ""


@dataclass(frozen=True, slots=True)
class Dialect:
    """One dialect family (a REST surface, its markup, callbacks and errors) over the engine."""

    name: str
    #: the engine's `Face` of each flavour, by the name a call's options carry, given the public base URL
    faces: Callable[[str], Mapping[str, Face]]
    #: the HTTP routes, most traffic first
    routes: Callable[[Settings], Sequence[BaseRoute]]
    #: the `hot` ones among its routes
    hot: Callable[[Sequence[BaseRoute]], HotRoutes]
    openapi: Callable[[], OpenApiFragment]
    #: the error body for `error` on `path` (a path no route knows, under one of `prefixes`)
    error_response: Callable[[ApiError, str], Response]
    #: the path prefixes whose unknown paths answer in this dialect's error shape
    prefixes: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class AnyHot:
    """The hot routes of several dialects, tried in order."""

    tables: tuple[HotRoutes, ...] = ()

    def match(self, path: str) -> tuple[Endpoint, dict[str, str]] | None:
        for table in self.tables:
            found = table.match(path)
            if found is not None:
                return found
        return None


def owner(dialects: Sequence[Dialect], path: str) -> Dialect:
    """The dialect whose error shape a path answers in: the one with a matching prefix, else the first."""
    for dialect in dialects:
        if path.startswith(dialect.prefixes):
            return dialect
    return dialects[0]


__all__ = ["AnyHot", "Dialect", "Endpoint", "HotRoutes", "OpenApiFragment", "owner"]
