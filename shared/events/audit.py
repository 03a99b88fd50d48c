"""Event types produced by the audit service (owned by that service; the contract others read)."""
from marshmallow import fields, validate  # noqa: F401

from shared.events.catalogue import PayloadSchema, register  # noqa: F401
