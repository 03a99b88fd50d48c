"""Marshmallow schemas whose field loop is compiled once; marshmallow stays the judge.

Every event is checked against its catalogue schema when it is emitted and again by each
consumer, and intake loads every application the portal sends. Marshmallow's general field loop
(a getter closure, an error store and a ``deserialize`` call per field) cost 50-100 µs an event
and ~200 µs an application; under load that was the largest share of the services' CPU.

:class:`CompiledSchema` replaces only that loop (``Schema._deserialize``), with a loader built
once per unknown-field policy from the schema's own fields. The loader produces marshmallow's
result without its machinery when it is certain of it:

- a value of its field's canonical JSON type (``str`` for String, ``int`` for Integer, ``bool``
  for Boolean, ``int``/``float`` for Float, ``dict`` for Dict and Nested, ``list`` for List) is
  converted as the field would and checked by the field's own validators (marshmallow's objects,
  called as marshmallow calls them);
- marshmallow's other field classes (dates, times, …) deserialize the value themselves;
- missing keys, ``load_default``, ``None`` against ``allow_none`` and unknown keys follow the
  field's and the schema's settings.

On anything else (another type, a failing validator, an unknown key where the schema raises) it
is not certain and marshmallow's own loop runs, so every error message is marshmallow's. A schema
with a field class of its own, a ``Method`` or ``Function`` field, or a dotted ``attribute`` is
not compiled at all. Hooks
(``pre_load``, ``validates``, ``validates_schema``, ``post_load``) are untouched: marshmallow runs
them around the loop as always. ``tests/unit/shared/test_compiled_schema.py`` holds the result to
marshmallow's, error for error, over generated input for every catalogue schema and the
application schema.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from marshmallow import EXCLUDE, INCLUDE, RAISE, Schema, ValidationError, fields
from marshmallow.utils import missing

UNCERTAIN = object()
"""A loader's answer when marshmallow's own loop must decide (and name the errors)."""

Loader = Callable[[Any], Any]

_enabled = True


@contextmanager
def marshmallow_only() -> Iterator[None]:
    """Within the block, every CompiledSchema runs marshmallow's own loop (the reference the
    tests hold the compiled loaders to)."""
    global _enabled
    previous, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = previous


class CompiledSchema(Schema):
    """A marshmallow schema whose field loop is compiled (see the module docstring)."""

    def _deserialize(self, data, *, error_store, many=False, partial=None, unknown=RAISE,
                     index=None):
        if _enabled and not many and (partial is None or partial is False):
            loaders = self.__dict__.get("_compiled_loaders")
            if loaders is None:
                loaders = self.__dict__["_compiled_loaders"] = {}
            if unknown not in loaders:
                loaders[unknown] = compile_loader(self, unknown)
            loader = loaders[unknown]
            if loader is not None:
                result = loader(data)
                if result is not UNCERTAIN:
                    return result
        return super()._deserialize(data, error_store=error_store, many=many, partial=partial,
                                    unknown=unknown, index=index)


class _NotCompiled(Exception):
    """A setting the compiled loop does not follow: the schema keeps marshmallow's loop."""


# fields whose deserialization reads the schema or the whole input, not only their value
_CONTEXTUAL = (fields.Method, fields.Function)


def compile_loader(schema: Schema, unknown: str) -> Loader | None:
    """A loader of ``schema``'s fields (None: the schema has settings it does not follow)."""
    try:
        return _compile(schema, unknown)
    except _NotCompiled:
        return None


def _compile(schema: Schema, unknown: str) -> Loader:
    if schema.dict_class is not dict or unknown not in (RAISE, INCLUDE, EXCLUDE):
        raise _NotCompiled
    entries: list[tuple[str, str, Any, bool, bool, Loader]] = []
    for name, field in schema.load_fields.items():
        target = field.attribute or name
        if "." in target:  # marshmallow would nest the value; not followed here
            raise _NotCompiled
        key = field.data_key if field.data_key is not None else name
        entries.append((key, target, field.load_default, bool(field.required),
                        bool(field.allow_none), _value_loader(field)))
    known = frozenset(key for key, *_ in entries)

    def load(data: Any) -> Any:
        if type(data) is not dict:
            return UNCERTAIN
        if unknown == RAISE and not known.issuperset(data):
            return UNCERTAIN
        out: dict[str, Any] = {}
        for key, target, default, required, allow_none, value_loader in entries:
            value = data.get(key, missing)
            if value is missing:
                if required:
                    return UNCERTAIN
                if default is not missing:
                    out[target] = default() if callable(default) else default
                continue
            if value is None:
                if not allow_none:
                    return UNCERTAIN
                out[target] = None
                continue
            value = value_loader(value)
            if value is UNCERTAIN:
                return UNCERTAIN
            out[target] = value
        if unknown == INCLUDE:
            for key in data.keys() - known:
                out[key] = data[key]
        return out

    return load


def _validating(validators: list, convert: Loader) -> Loader:
    """``convert`` then the field's validators, as marshmallow runs them (each must not raise)."""
    if not validators:
        return convert

    def load(value: Any) -> Any:
        value = convert(value)
        if value is UNCERTAIN:
            return UNCERTAIN
        try:
            for validator in validators:
                validator(value)
        except ValidationError:
            return UNCERTAIN
        return value

    return load


def _of_type(kind: type) -> Loader:
    return lambda value: value if type(value) is kind else UNCERTAIN


def _float(value: Any) -> Any:
    if type(value) is not int and type(value) is not float:
        return UNCERTAIN
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float: marshmallow says so
        return UNCERTAIN
    return number if math.isfinite(number) else UNCERTAIN


def _value_loader(field: fields.Field) -> Loader:
    """Loads one present, non-None value of ``field``."""
    kind = type(field)
    if kind.__module__ != fields.__name__ or issubclass(kind, _CONTEXTUAL):
        raise _NotCompiled  # a field class of our own, or one that reads its context
    if field.pre_load or field.post_load:
        return _by_the_field(field)
    validators = list(field.validators)
    if kind is fields.String:
        return _validating(validators, _of_type(str))
    if kind is fields.Integer:
        return _validating(validators, _of_type(int))
    if kind is fields.Float:
        return _validating(validators, _float)
    if kind is fields.Boolean:
        if field.truthy and not (True in field.truthy and False in field.falsy):
            return _by_the_field(field)
        return _validating(validators, _of_type(bool))
    if kind is fields.Dict and field.mapping_type is dict and field.value_field is None:
        keys = field.key_field
        if keys is None:
            return _validating(validators, _dict_copy)
        if type(keys) is fields.String and not keys.validators and not keys.pre_load \
                and not keys.post_load:
            return _validating(validators, _dict_of_text_keys)
        return _by_the_field(field)
    if kind is fields.List:
        return _validating(validators, _list_loader(field.inner))
    if kind is fields.Nested and not field.many and not validators:
        nested = field.schema
        if _plain(nested) and not any(nested._hooks.values()) and not nested.partial:
            inner = compile_loader(nested, field.unknown or nested.unknown)
            if inner is not None:
                return inner
    return _by_the_field(field)  # marshmallow's own field classes, given only the value


def _plain(schema: Schema) -> bool:
    """A nested schema loads only through marshmallow's own steps (so its loop may be inlined)."""
    kind = type(schema)
    return (kind.load is Schema.load and kind._do_load is Schema._do_load
            and kind._deserialize in (Schema._deserialize, CompiledSchema._deserialize))


def _dict_copy(value: Any) -> Any:
    return dict(value) if type(value) is dict else UNCERTAIN


def _dict_of_text_keys(value: Any) -> Any:
    if type(value) is not dict or not all(type(k) is str for k in value):
        return UNCERTAIN
    return dict(value)


def _list_loader(inner: fields.Field) -> Loader:
    item_loader = _value_loader(inner)
    item_allows_none = inner.allow_none

    def load(value: Any) -> Any:
        if type(value) is not list:
            return UNCERTAIN
        out = []
        for item in value:
            if item is None:
                if not item_allows_none:
                    return UNCERTAIN
                out.append(None)
                continue
            item = item_loader(item)
            if item is UNCERTAIN:
                return UNCERTAIN
            out.append(item)
        return out

    return load


def _by_the_field(field: fields.Field) -> Loader:
    """No shortcut for this kind of field: the field deserializes (and validates) the value."""
    def load(value: Any) -> Any:
        try:
            return field.deserialize(value)
        except ValidationError:
            return UNCERTAIN
    return load
