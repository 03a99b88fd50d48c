"""The compiled field loop (shared/compiled_schema.py) against marshmallow's own.

Over generated input of every catalogue schema, the envelope, intake's application schema and a
schema with every setting the loop follows: loading gives marshmallow's result, or marshmallow's
errors, exactly; and where marshmallow loads a payload whose values have their field's JSON type,
the compiled loop was certain of it (so the shortcut is really taken).
"""
from __future__ import annotations

import math
import string
from datetime import timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, post_load, validate

from services.intake.schemas import APPLICATION_SCHEMA
from shared.compiled_schema import UNCERTAIN, CompiledSchema, compile_loader, marshmallow_only
from shared.events import CATALOGUE
from shared.events.envelope import ENVELOPE_SCHEMA
from shared.simulation.portal import ApplicationFactory

pytestmark = pytest.mark.unit

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                         st.floats(allow_nan=True, allow_infinity=True),
                         st.text(max_size=8))
JSON = st.one_of(JSON_SCALARS, st.lists(JSON_SCALARS, max_size=3),
                 st.dictionaries(st.text(max_size=4), JSON_SCALARS, max_size=3))
SHORT_TEXT = st.text(alphabet=string.ascii_letters + "中文 ._-", max_size=12)


def typed_values(field: fields.Field, wild: bool) -> st.SearchStrategy:
    """Values for ``field``: of its JSON type (often, not always, passing its validators), or,
    when ``wild``, sometimes any JSON value at all."""
    typed = _typed(field, wild)
    if wild:
        return st.one_of(typed, typed, JSON)
    return typed


def _typed(field: fields.Field, wild: bool) -> st.SearchStrategy:
    validators = field.validators
    if isinstance(field, fields.String):
        for v in validators:
            if isinstance(v, validate.OneOf):
                return st.one_of(st.sampled_from(list(v.choices)), SHORT_TEXT)
            if isinstance(v, validate.Regexp):
                return st.one_of(st.from_regex(v.regex, fullmatch=True), SHORT_TEXT)
        if any(getattr(v, "__name__", "") == "_uuid_text" for v in validators):
            return st.one_of(st.uuids().map(str), SHORT_TEXT)
        return st.one_of(SHORT_TEXT, st.just(""), st.just("   "))
    if isinstance(field, fields.Integer):
        return st.one_of(st.integers(-3, 3), st.integers(1990, 2110), st.integers())
    if isinstance(field, fields.Float):
        if wild:  # not finite, or too large for a float
            return st.one_of(st.floats(-100, 100), st.integers(-5, 100),
                             st.sampled_from([math.nan, math.inf, -math.inf, 10**400]))
        return st.one_of(st.floats(-100, 100), st.integers(-5, 100))
    if isinstance(field, fields.Boolean):
        if wild:  # the other values marshmallow reads as true or false
            return st.one_of(st.booleans(),
                             st.sampled_from(sorted(field.truthy | field.falsy, key=str)))
        return st.booleans()
    if isinstance(field, fields.DateTime):
        return st.one_of(st.datetimes(timezones=st.just(timezone.utc)).map(lambda d: d.isoformat()),
                         st.datetimes().map(lambda d: d.isoformat()), SHORT_TEXT)
    if isinstance(field, fields.Date):
        return st.one_of(st.dates().map(lambda d: d.isoformat()), SHORT_TEXT)
    if isinstance(field, fields.Dict):
        values = typed_values(field.value_field, wild) if field.value_field else JSON
        return st.dictionaries(st.text(max_size=5), values, max_size=3)
    if isinstance(field, fields.List):
        return st.lists(typed_values(field.inner, wild), max_size=4)
    if isinstance(field, fields.Nested):
        if field.many:
            return st.lists(objects(field.schema, wild), max_size=2)
        return objects(field.schema, wild)
    return JSON


_BUILT: dict[tuple[int, bool], tuple[Schema, st.SearchStrategy]] = {}


def objects(schema: Schema, wild: bool) -> st.SearchStrategy:
    """Objects shaped like ``schema``: each field present or not, sometimes None, sometimes
    with an extra key (built once per schema: hypothesis draws faster from a kept strategy)."""
    key = (id(schema), wild)
    if key not in _BUILT:
        _BUILT[key] = (schema, _objects(schema, wild))
    return _BUILT[key][1]


def _objects(schema: Schema, wild: bool) -> st.SearchStrategy:
    parts = {}
    for name, field in schema.load_fields.items():
        key = field.data_key or name
        parts[key] = st.one_of(typed_values(field, wild), typed_values(field, wild),
                               typed_values(field, wild), st.none(), st.just(_ABSENT))
    extra = st.one_of(st.just({}), st.dictionaries(st.sampled_from(["extra", "x_y"]), JSON,
                                                   max_size=1))
    return st.tuples(st.fixed_dictionaries(parts), extra).map(
        lambda pair: {**{k: v for k, v in pair[0].items() if v is not _ABSENT}, **pair[1]})


_ABSENT = object()


# ------------------------------------------------------------------ schemas with odd features
class Part(CompiledSchema):
    serial = fields.String(required=True, validate=validate.Length(min=2))
    note = fields.String(load_default="none")


class Hooked(CompiledSchema):
    n = fields.Integer(required=True)

    @post_load
    def doubled(self, data, **kwargs):
        return {**data, "n": data["n"] * 2}


class Odd(CompiledSchema):
    """Settings the loop must follow: data_key, attribute, dump_only, load_default, nested
    unknown policies, list validators, custom truthy values, allow_nan floats, Dict with typed
    values, many=True, a nested schema with hooks, dates."""

    class Meta:
        unknown = RAISE

    renamed = fields.Integer(data_key="Renamed", validate=validate.Range(0, 9))
    stored_as = fields.String(attribute="elsewhere")
    shown_only = fields.String(dump_only=True)
    defaulted = fields.List(fields.String(), load_default=list)
    loose_part = fields.Nested(Part, unknown=INCLUDE)
    parts = fields.List(fields.Nested(Part), validate=validate.Length(max=2))
    tagged = fields.List(fields.String(), validate=validate.ContainsOnly(["a", "b"]))
    lenient = fields.Integer(strict=False)
    yes = fields.Boolean(truthy={"yes"}, falsy={"no"})
    ratio = fields.Float(allow_nan=True)
    finite = fields.Float()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    free = fields.Dict()
    several = fields.Nested(Part, many=True)
    hooked = fields.Nested(Hooked)
    when = fields.AwareDateTime(format="iso")
    day = fields.Date()


def catalogue_schemas():
    """Each event type's schema as producers check it (RAISE) and as consumers do (INCLUDE)."""
    out = [pytest.param((ENVELOPE_SCHEMA,), id="envelope")]
    for name in sorted(CATALOGUE.types):
        schema = CATALOGUE.types[name].schema
        out.append(pytest.param((schema(unknown=RAISE), schema(unknown=INCLUDE)), id=name))
    return out


def normal(value):
    """Comparable form: dicts as sorted items (marshmallow adds unknown keys in set order),
    NaN as a marker (NaN != NaN)."""
    if isinstance(value, dict):
        return sorted(((str(k), normal(v)) for k, v in value.items()), key=lambda kv: kv[0])
    if isinstance(value, (list, tuple)):
        return [normal(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def outcome(schema: Schema, value):
    try:
        return "loaded", normal(schema.load(value))
    except ValidationError as error:
        return "refused", normal(error.messages)


_WILD: dict[int, st.SearchStrategy] = {}


def mutant(data, schema: Schema) -> dict:
    """An object of the fields' types with one value, somewhere inside, made wild: so a single
    fault is not hidden behind others."""
    value = data.draw(objects(schema, wild=False))
    name, field = data.draw(st.sampled_from(sorted(schema.load_fields.items())))
    value[field.data_key or name] = wild_value(data, field)
    return value


def wild_value(data, field: fields.Field):
    if isinstance(field, fields.List) and data.draw(st.booleans()):
        items = data.draw(st.lists(typed_values(field.inner, False), max_size=3))
        items.insert(data.draw(st.integers(0, len(items))), wild_value(data, field.inner))
        return items
    if isinstance(field, fields.Nested) and not field.many and data.draw(st.booleans()):
        return mutant(data, field.schema)
    return data.draw(st.one_of(JSON, typed_values(field, wild=True)))


def holds_to_marshmallow(schemas: tuple[Schema, ...], data) -> None:
    """For each schema, a wild value, a value with one wild part and a value of the fields'
    types load as marshmallow loads them; the typed one, if marshmallow loads it, without
    falling back."""
    for schema in schemas:
        if id(schema) not in _WILD:
            _WILD[id(schema)] = st.one_of(objects(schema, True), JSON)
        wild = data.draw(_WILD[id(schema)], label="wild")
        one_wild_part = mutant(data, schema)
        typed = data.draw(objects(schema, wild=False), label="typed")
        for value in (wild, one_wild_part, typed):
            with marshmallow_only():
                expected = outcome(schema, value)
            assert outcome(schema, value) == expected, value
        if expected[0] == "loaded":
            loader = compile_loader(schema, schema.unknown)
            assert loader(typed) is not UNCERTAIN, typed


@pytest.mark.parametrize("schemas", catalogue_schemas())
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_catalogue_schema_loads_as_marshmallow_does(schemas, data):
    holds_to_marshmallow(schemas, data)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_application_schema_loads_as_marshmallow_does(data):
    holds_to_marshmallow((APPLICATION_SCHEMA,), data)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_loop_follows_every_setting_of_a_schema(data):
    holds_to_marshmallow((Odd(), Odd(unknown=INCLUDE)), data)


def test_every_catalogue_schema_the_envelope_and_the_application_compile():
    assert compile_loader(ENVELOPE_SCHEMA, RAISE) is not None
    assert compile_loader(APPLICATION_SCHEMA, RAISE) is not None
    for name, event_type in CATALOGUE.types.items():
        assert compile_loader(event_type.schema(), RAISE) is not None, name


def test_the_portals_applications_take_the_compiled_loop():
    factory = ApplicationFactory(seed=3, prefix="T")
    loader = compile_loader(APPLICATION_SCHEMA, RAISE)
    for committee in ("R22", "D01", "D02"):
        app = factory.valid(committee)
        assert loader(app) is not UNCERTAIN
        with marshmallow_only():
            expected = APPLICATION_SCHEMA.load(app)
        assert APPLICATION_SCHEMA.load(app) == expected


def test_fields_of_our_own_or_reading_their_context_keep_marshmallows_loop():
    class Upper(fields.String):
        pass

    class Own(Schema):
        shout = Upper()

    class Contextual(Schema):
        m = fields.Method(deserialize="read")

        def read(self, value):
            return value

    assert compile_loader(Own(), RAISE) is None
    assert compile_loader(Contextual(), RAISE) is None


def test_plain_cases():
    odd = Odd()
    assert odd.load({"Renamed": 3, "stored_as": "x", "parts": [{"serial": "ab"}]}) == {
        "renamed": 3, "elsewhere": "x", "defaulted": [],
        "parts": [{"serial": "ab", "note": "none"}]}
    assert odd.load({"hooked": {"n": 2}})["hooked"] == {"n": 4}   # the nested hook ran
    for refused, field in [({"renamed": 3}, "renamed"), ({"shown_only": "x"}, "shown_only"),
                           ({"Renamed": 10}, "Renamed"), ({"Renamed": True}, "Renamed"),
                           ({"parts": [{"serial": "ab", "x": 1}]}, "parts"),
                           ({"parts": [{"serial": "ab"}] * 3}, "parts"),
                           ({"tagged": ["a", "c"]}, "tagged"), ({"yes": True}, "yes")]:
        with pytest.raises(ValidationError) as caught:
            odd.load(refused)
        assert field in caught.value.messages
    assert odd.load({"loose_part": {"serial": "ab", "more": 1}})["loose_part"]["more"] == 1
    assert odd.load({"yes": "yes"})["yes"] is True


EDGES = [None, True, False, 0, 1, -1, 2.5, 10**400, math.nan, math.inf, -math.inf, "", " ", "1",
         "true", "yes", "2023-09-01", "2023-09-01T09:00:00+08:00", "2023-09-01T09:00:00", [],
         [None], ["a"], [1], {}, {"a": 1}, {1: "a"}]


class Edges(CompiledSchema):
    text = fields.String()
    short = fields.String(validate=validate.Length(max=1))
    whole = fields.Integer()
    strict = fields.Integer(strict=True)
    number = fields.Float()
    any_number = fields.Float(allow_nan=True)
    flag = fields.Boolean()
    maybe = fields.String(allow_none=True)
    day = fields.Date()
    when = fields.AwareDateTime(format="iso")
    texts = fields.List(fields.String())
    maybe_texts = fields.List(fields.String(allow_none=True))
    mapping = fields.Dict()
    text_keys = fields.Dict(keys=fields.String())
    part = fields.Nested(Part)


@pytest.mark.parametrize("name", sorted(Edges().load_fields))
def test_edge_values_of_every_field_kind_load_as_marshmallow_does(name):
    schema = Edges()
    for value in EDGES:
        with marshmallow_only():
            expected = outcome(schema, {name: value})
        assert outcome(schema, {name: value}) == expected, (name, value)


def test_a_nested_schema_with_its_own_load_is_loaded_by_it():
    class Trimmed(Schema):
        word = fields.String()

        def load(self, data, **kwargs):
            return {"word": super().load(data, **kwargs)["word"].strip()}

    class Outer(CompiledSchema):
        inner = fields.Nested(Trimmed)

    assert Outer().load({"inner": {"word": " a "}}) == {"inner": {"word": "a"}}
