"""The event catalogue: the one contract between services.

Every event type is registered once, by the module of its producer (``shared/events/<svc>.py``),
with its version, payload schema, description and the services whose inbox consumes it. Audit
consumes every event of every service and is not listed.

Additive payload changes keep the version (consumers load payloads with ``unknown=INCLUDE``);
breaking ones bump it and register an upcaster from the old version, so stored or in-flight old
events are read as the new shape.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from marshmallow import INCLUDE, RAISE, Schema

from shared.compiled_schema import CompiledSchema
from shared.config import SERVICES
from shared.events.envelope import ENVELOPE_SCHEMA

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class PayloadSchema(CompiledSchema):
    """Base of every payload schema. Producers dump strictly; consumers tolerate additions."""

    class Meta:
        unknown = RAISE


class EventContractError(ValueError):
    """An envelope or payload that breaks the catalogue's contract.

    ``reason`` is one of a small fixed set (used as a metric label and dead-letter reason):
    ``invalid_envelope``, ``unknown_event_type``, ``unsupported_version``, ``invalid_payload``.
    """

    def __init__(self, reason: str, message: str, errors: Any = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.errors = errors


@dataclass(frozen=True)
class EventType:
    name: str
    producer: str
    version: int
    schema: type[Schema]
    description: str
    consumers: tuple[str, ...] = ()
    # payload fields holding personal data (identity numbers, names): masked for roles that do not
    # need them and never copied into logs or metric labels
    personal_fields: tuple[str, ...] = ()

    @property
    def exchange(self) -> str:
        return f"{self.producer}.events"


@dataclass
class Catalogue:
    types: dict[str, EventType] = field(default_factory=dict)
    upcasters: dict[tuple[str, int], Upcaster] = field(default_factory=dict)
    # schema instances, built once per (event type, unknown-field policy): building a marshmallow
    # schema copies its fields (and compiles its loop, shared/compiled_schema.py), and every
    # event emitted or consumed is checked
    _schemas: dict[tuple[str, str], Schema] = field(default_factory=dict, repr=False)

    def _schema(self, name: str, unknown: str) -> Schema:
        key = (name, unknown)
        schema = self._schemas.get(key)
        if schema is None:
            schema = self._schemas[key] = self.get(name).schema(unknown=unknown)
        return schema

    def register(self, name: str, *, producer: str, schema: type[Schema], description: str,
                 version: int = 1, consumers: tuple[str, ...] | list[str] = (),
                 personal_fields: tuple[str, ...] | list[str] = ()) -> EventType:
        if producer not in SERVICES:
            raise ValueError(f"unknown producer {producer!r}")
        for consumer in consumers:
            if consumer not in SERVICES:
                raise ValueError(f"unknown consumer {consumer!r} for {name}")
        if name in self.types:
            raise ValueError(f"event type {name} registered twice")
        event_type = EventType(name=name, producer=producer, version=version, schema=schema,
                               description=description, consumers=tuple(consumers),
                               personal_fields=tuple(personal_fields))
        self.types[name] = event_type
        return event_type

    def upcaster(self, name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register ``fn(payload_v_n) -> payload_v_n+1`` for ``name``."""
        def decorator(fn: Upcaster) -> Upcaster:
            self.upcasters[(name, from_version)] = fn
            return fn
        return decorator

    def get(self, name: str) -> EventType:
        try:
            return self.types[name]
        except KeyError:
            raise EventContractError("unknown_event_type", f"unknown event type {name!r}") from None

    def produced_by(self, service: str) -> list[EventType]:
        return sorted((t for t in self.types.values() if t.producer == service), key=lambda t: t.name)

    def consumed_by(self, service: str) -> list[EventType]:
        return sorted((t for t in self.types.values() if service in t.consumers),
                      key=lambda t: t.name)

    def check_payload(self, name: str, payload: dict[str, Any]) -> None:
        """Producer side: the payload must match its schema exactly."""
        errors = self._schema(name, RAISE).validate(payload)
        if errors:
            raise EventContractError("invalid_payload", f"payload of {name} does not match "
                                     f"its schema", errors)

    def read(self, envelope: Any) -> dict[str, Any]:
        """Consumer side: validate an envelope, upcast its payload to the current version.

        Returns the envelope as plain JSON types (with the payload upcast). Raises
        :class:`EventContractError` with the reason.
        """
        if not isinstance(envelope, dict):
            raise EventContractError("invalid_envelope", "an event must be a JSON object")
        errors = ENVELOPE_SCHEMA.validate(envelope)
        if errors:
            raise EventContractError("invalid_envelope", "the envelope does not match its schema",
                                     errors)
        event_type = self.get(envelope["event_type"])
        if envelope["producer"] != event_type.producer:
            raise EventContractError("invalid_envelope",
                                     f"{event_type.name} is produced by {event_type.producer}")
        version = envelope["version"]
        if version > event_type.version:
            raise EventContractError("unsupported_version",
                                     f"{event_type.name} v{version} is newer than this service "
                                     f"knows (v{event_type.version})")
        payload = dict(envelope["payload"])
        while version < event_type.version:
            upcast = self.upcasters.get((event_type.name, version))
            if upcast is None:
                raise EventContractError("unsupported_version",
                                         f"no upcaster for {event_type.name} v{version}")
            payload = upcast(payload)
            version += 1
        errors = self._schema(event_type.name, INCLUDE).validate(payload)
        if errors:
            raise EventContractError("invalid_payload",
                                     f"payload of {event_type.name} does not match its schema",
                                     errors)
        return {**envelope, "version": version, "payload": payload}

    def markdown(self) -> str:
        """The catalogue as a Markdown table (the README's copy is checked against this)."""
        lines = ["| event | producer | version | consumers | payload fields | meaning |",
                 "|---|---|---|---|---|---|"]
        for t in sorted(self.types.values(), key=lambda t: (t.producer, t.name)):
            fields_ = ", ".join(sorted(t.schema().fields))
            consumers = ", ".join(sorted(set(t.consumers) | {"audit"}))
            lines.append(f"| `{t.name}` | {t.producer} | {t.version} | {consumers} | {fields_} | "
                         f"{t.description} |")
        return "\n".join(lines) + "\n"


CATALOGUE = Catalogue()
register = CATALOGUE.register
