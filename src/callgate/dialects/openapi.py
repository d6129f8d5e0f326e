"""The OpenAPI document: every dialect's part (`Dialect.openapi`), under one header."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from callgate import __version__
from callgate.dialects.registration import Dialect


def openapi_document(dialects: Sequence[Dialect]) -> dict[str, Any]:
    """OpenAPI 3.0 for every route of `dialects`."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    descriptions: list[str] = []
    for dialect in dialects:
        part = dialect.openapi()
        paths |= part.paths
        schemas |= part.schemas
        if part.description:
            descriptions.append(part.description)
    return {
        "openapi": "3.0.3",
        "info": {"title": "Callgate", "version": __version__, "description": " ".join(descriptions)},
        "paths": paths,
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": schemas,
        },
    }


__all__ = ["openapi_document"]
