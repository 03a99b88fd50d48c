"""Identifiers the platform mints for its own records: events, submissions (受理编号), cases.

They are UUIDs of version 7 (RFC 9562): a millisecond timestamp first, then randomness. Ids
minted one after another sort together, so each database index they key (the outbox, every
consumer's processed events, audit's records, submissions and cases) grows at its end instead of
touching a random page per row: a batch of a hundred applications writes a few index pages, not
a hundred. They stay as unguessable as version 4 for what they protect (74 random bits), and the
time they carry is the record's creation time, which the record shows anyway.
"""
from __future__ import annotations

import uuid6


def new_id() -> str:
    """A new time-ordered identifier, as the 36-character text every table stores."""
    return str(uuid6.uuid7())
