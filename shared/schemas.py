"""Marshmallow helpers: load input or raise :class:`InvalidInput` naming every bad field."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError

from shared.errors import InvalidInput


def load(schema: Schema, data: Any, *, what: str = "request") -> Any:
    if not isinstance(data, dict) and not getattr(schema, "many", False):
        raise InvalidInput(f"the {what} must be a JSON object", code="invalid_input",
                           details={"fields": {"_schema": ["must be a JSON object"]}})
    try:
        return schema.load(data)
    except ValidationError as exc:
        fields = sorted(exc.messages) if isinstance(exc.messages, dict) else []
        raise InvalidInput(f"the {what} has invalid fields: {', '.join(map(str, fields))}"
                           if fields else f"the {what} is invalid",
                           details={"fields": exc.messages}) from None
