"""The event envelope every message between services travels in.

``{event_id, event_type, version, occurred_at, producer, correlation_id, causation_id, payload}``
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from marshmallow import ValidationError, fields, validate

from shared.compiled_schema import CompiledSchema
from shared.config import SERVICES
from shared.ids import new_id


def _uuid_text(value: str) -> None:
    try:
        uuid.UUID(str(value))
    except ValueError as exc:
        raise ValidationError("must be a UUID") from exc


class EnvelopeSchema(CompiledSchema):
    """Marshmallow schema of the envelope (the payload is checked against the catalogue)."""

    event_id = fields.String(required=True, validate=_uuid_text)
    event_type = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{2,63}$"))
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    occurred_at = fields.AwareDateTime(required=True, format="iso")
    producer = fields.String(required=True, validate=validate.OneOf(SERVICES))
    correlation_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    causation_id = fields.String(load_default=None, allow_none=True,
                                 validate=validate.Length(min=1, max=64))
    # an object; its keys need no field of their own: decoded JSON has only string keys,
    # and the payload's own schema checks its fields
    payload = fields.Dict(required=True)


ENVELOPE_SCHEMA = EnvelopeSchema()


def new_event_id() -> str:
    return new_id()


def build_envelope(*, event_type: str, version: int, producer: str, payload: dict[str, Any],
                   occurred_at: datetime, correlation_id: str | None = None,
                   causation_id: str | None = None, event_id: str | None = None) -> dict[str, Any]:
    """A plain-JSON envelope (occurred_at as ISO 8601 text)."""
    event_id = event_id or new_event_id()
    if occurred_at.tzinfo is None:
        raise ValueError("occurred_at must be timezone-aware")
    return {
        "event_id": event_id,
        "event_type": event_type,
        "version": version,
        "occurred_at": occurred_at.isoformat(),
        "producer": producer,
        "correlation_id": correlation_id or event_id,
        "causation_id": causation_id,
        "payload": payload,
    }


def encode(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
