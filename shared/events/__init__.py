"""The event contract: envelope, catalogue and every service's event types.

Importing this package registers every event type, so ``CATALOGUE`` is complete.
"""
from shared.events.catalogue import (CATALOGUE, Catalogue, EventContractError, EventType,
                                     PayloadSchema, register)
from shared.events.envelope import ENVELOPE_SCHEMA, EnvelopeSchema, build_envelope, encode
from shared.events import platform, intake, review, experts, audit  # noqa: F401,E402  registration

__all__ = ["CATALOGUE", "Catalogue", "EventContractError", "EventType", "PayloadSchema",
           "register", "ENVELOPE_SCHEMA", "EnvelopeSchema", "build_envelope", "encode"]
