from datetime import datetime

import pytest
from marshmallow import fields

from shared.clock import CHINA
from shared.events import CATALOGUE, Catalogue, EventContractError, PayloadSchema, build_envelope


class Widget(PayloadSchema):
    size = fields.Integer(required=True)


class WidgetV2(PayloadSchema):
    size = fields.Integer(required=True)
    colour = fields.String(required=True)


def envelope(**overrides):
    env = build_envelope(event_type="widget_made", version=1, producer="intake",
                         payload={"size": 3}, occurred_at=datetime(2023, 9, 1, tzinfo=CHINA))
    env.update(overrides)
    return env


@pytest.fixture
def catalogue():
    c = Catalogue()
    c.register("widget_made", producer="intake", schema=Widget, description="test",
               consumers=["review"])
    return c


def test_envelope_has_every_field_of_the_contract():
    env = envelope()
    assert set(env) == {"event_id", "event_type", "version", "occurred_at", "producer",
                        "correlation_id", "causation_id", "payload"}
    assert env["correlation_id"] == env["event_id"]  # a new story starts with its first event
    assert env["occurred_at"] == "2023-09-01T00:00:00+08:00"


def test_envelope_refuses_naive_time():
    with pytest.raises(ValueError):
        build_envelope(event_type="widget_made", version=1, producer="intake", payload={},
                       occurred_at=datetime(2023, 9, 1))


def test_reads_a_valid_envelope(catalogue):
    assert catalogue.read(envelope())["payload"] == {"size": 3}


@pytest.mark.parametrize("broken, reason", [
    ({"event_id": "not-a-uuid"}, "invalid_envelope"),
    ({"producer": "nobody"}, "invalid_envelope"),
    ({"producer": "review"}, "invalid_envelope"),  # widget_made belongs to intake
    ({"version": 0}, "invalid_envelope"),
    ({"occurred_at": "2023-09-01T00:00:00"}, "invalid_envelope"),  # no zone
    ({"event_type": "gadget_made"}, "unknown_event_type"),
    ({"version": 2}, "unsupported_version"),
    ({"payload": {"size": "big"}}, "invalid_payload"),
    ({"payload": {}}, "invalid_payload"),
])
def test_refuses_envelopes_that_break_the_contract(catalogue, broken, reason):
    with pytest.raises(EventContractError) as err:
        catalogue.read(envelope(**broken))
    assert err.value.reason == reason


def test_consumers_tolerate_added_payload_fields(catalogue):
    assert catalogue.read(envelope(payload={"size": 3, "shape": "round"}))["payload"]["shape"] \
        == "round"


def test_producers_must_match_the_schema_exactly(catalogue):
    with pytest.raises(EventContractError):
        catalogue.check_payload("widget_made", {"size": 3, "typo": 1})


def test_old_versions_are_upcast_to_the_current_shape():
    c = Catalogue()
    c.register("widget_made", producer="intake", schema=WidgetV2, description="v2", version=2)

    @c.upcaster("widget_made", 1)
    def add_colour(payload):
        return {**payload, "colour": "grey"}

    read = c.read(envelope())
    assert read["version"] == 2 and read["payload"] == {"size": 3, "colour": "grey"}


def test_a_missing_upcaster_is_an_unsupported_version():
    c = Catalogue()
    c.register("widget_made", producer="intake", schema=WidgetV2, description="v2", version=2)
    with pytest.raises(EventContractError) as err:
        c.read(envelope())
    assert err.value.reason == "unsupported_version"


def test_an_event_type_is_registered_once(catalogue):
    with pytest.raises(ValueError):
        catalogue.register("widget_made", producer="intake", schema=Widget, description="again")


def test_catalogue_knows_every_service_start_event():
    for service in ("intake", "review", "experts", "audit"):
        assert CATALOGUE.get(f"{service}_started").producer == service


def test_every_catalogue_event_name_is_noun_past_verb():
    for name in CATALOGUE.types:
        assert name.split("_")[-1].endswith(("ed", "en", "wn", "un", "ound", "eld", "ent", "et", "ept", "ade", "one", "ought")), name


def test_readme_lists_the_catalogue_as_the_code_defines_it():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    start = readme.index("<!-- catalogue:start -->") + len("<!-- catalogue:start -->\n")
    end = readme.index("<!-- catalogue:end -->")
    assert readme[start:end] == CATALOGUE.markdown(), \
        "README's event catalogue is stale: run `zhicheng events list --markdown`"
