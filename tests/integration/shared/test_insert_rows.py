"""``shared.db.insert_rows`` (the driver's own batch insert) stores exactly what SQLAlchemy's
executemany stores, on the test database (SQLite, or PostgreSQL with ZHICHENG_TEST_POSTGRES=1),
inside the caller's transaction."""
import math
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import (Boolean, Column, Date, Float, Integer, LargeBinary, String, Table, Text,
                        event, insert, select, text)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.clock import CHINA
from shared.db import (BigId, Instant, insert_new_rows, insert_rows, make_engine, new_metadata,
                       values_present)

metadata = new_metadata()


def _columns():
    return [Column("id", BigId, primary_key=True, autoincrement=True),
            Column("name", String(40), nullable=False),
            Column("note", Text, nullable=True),
            Column("at", Instant(), nullable=True),
            Column("on", Date, nullable=True),
            Column("flag", Boolean, nullable=False),
            Column("digest", LargeBinary, nullable=True),
            Column("count", Integer, nullable=False, default=7)]


by_sqlalchemy = Table("rows_by_sqlalchemy", metadata, *_columns())
by_driver = Table("rows_by_driver", metadata, *_columns())

ROWS = [
    # text that needs quoting or escaping, the China zone and another zone, NULLs, bytes
    dict(name="甲 'quoted' \\ back\tslash", note='{"a": "b\\"c", "d": "\\n"}',
         at=datetime(2023, 7, 1, 9, 30, 0, 123456, tzinfo=CHINA), on=date(2023, 12, 31),
         flag=True, digest=b"\x00\x01\xfe\xff", count=1),
    dict(name="乙", note=None, at=None, on=None, flag=False, digest=None, count=2),
    # what JSON escapes or might decode: emoji, line separators, a literal backslash-u
    dict(name="丁 😀 \u2028 \\u0041 \"q\"", note="\\x00ff {}", at=None, on=None, flag=False,
         digest=b"\\x", count=4),
    dict(name="丙%s%(x)s?", note="line\nbreak\r\n", at=datetime(2023, 1, 1, tzinfo=CHINA)
         + timedelta(hours=-8), on=date(2024, 2, 29), flag=True, digest=b"", count=3),
]


@pytest.fixture
def engine(databases):
    engine = make_engine(databases.url("rows"))
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def stored(engine, table, raw: bool):
    """Rows as the application reads them, or as the database holds them (``raw``)."""
    with engine.connect() as conn:
        if raw:
            columns = ", ".join(f'"{c.name}"' for c in table.columns if c.name != "id")
            return [tuple(r) for r in conn.execute(text(f"SELECT {columns} FROM {table.name} "
                                                        "ORDER BY id"))]
        return [dict(r._mapping, id=None) for r in conn.execute(select(table).order_by(table.c.id))]


def test_the_driver_path_stores_what_sqlalchemy_stores(engine):
    with Session(engine) as session:
        session.execute(insert(by_sqlalchemy), ROWS)
        insert_rows(session, by_driver, ROWS)
        session.commit()
    assert stored(engine, by_driver, raw=False) == stored(engine, by_sqlalchemy, raw=False)
    assert stored(engine, by_driver, raw=True) == stored(engine, by_sqlalchemy, raw=True)
    first = stored(engine, by_driver, raw=False)[0]
    assert first["at"] == ROWS[0]["at"] and first["at"].tzinfo is not None
    assert first["name"] == ROWS[0]["name"] and first["note"] == ROWS[0]["note"]
    assert bytes(first["digest"]) == ROWS[0]["digest"]


def test_the_driver_path_is_part_of_the_callers_transaction(engine):
    with Session(engine) as session:
        insert_rows(session, by_driver, ROWS)
        assert session.execute(select(by_driver.c.name).order_by(by_driver.c.id)) \
            .scalars().all() == [r["name"] for r in ROWS]
        session.rollback()
    assert stored(engine, by_driver, raw=False) == []


def test_rows_that_leave_out_a_column_with_a_python_default_get_the_default(engine):
    rows = [{k: v for k, v in row.items() if k != "count"} for row in ROWS]
    with Session(engine) as session:
        insert_rows(session, by_driver, rows)
        insert_rows(session, by_driver, [])  # nothing to do
        session.commit()
    assert [r["count"] for r in stored(engine, by_driver, raw=False)] == [7] * len(ROWS)


def test_a_duplicate_key_fails_as_sqlalchemys_integrity_error_and_stores_nothing(engine):
    """Callers tell a concurrent duplicate from other failures by SQLAlchemy's IntegrityError
    (intake's portal id, review's one case per submission): the driver path raises it too."""
    with Session(engine) as session:
        insert_rows(session, by_driver, [dict(ROWS[0], id=1)])
        session.commit()
    with Session(engine) as session:
        with pytest.raises(IntegrityError):
            insert_rows(session, by_driver, [dict(ROWS[1], id=2), dict(ROWS[2], id=1)])
        session.rollback()
    assert [r["name"] for r in stored(engine, by_driver, raw=False)] == [ROWS[0]["name"]]


def _float_columns():
    return [Column("id", BigId, primary_key=True, autoincrement=True),
            Column("name", String(40), nullable=False),
            Column("score", Float, nullable=True)]


measured = Table("floats_by_driver", metadata, *_float_columns())
measured_by_sqlalchemy = Table("floats_by_sqlalchemy", metadata, *_float_columns())


def test_a_table_with_a_float_column_stores_what_json_cannot_carry(engine):
    """JSON has no NaN or infinity: such a table takes the ``VALUES`` form on PostgreSQL,
    which keeps them (SQLite keeps infinity and stores NaN as NULL, either way)."""
    rows = [dict(name="a", score=float("nan")), dict(name="b", score=float("inf")),
            dict(name="c", score=0.1), dict(name="d", score=None)]
    with Session(engine) as session:
        insert_rows(session, measured, rows)
        session.execute(insert(measured_by_sqlalchemy), rows)
        session.commit()
    with engine.connect() as conn:
        scores = [conn.execute(select(t.c.score).order_by(t.c.id)).scalars().all()
                  for t in (measured, measured_by_sqlalchemy)]
    assert repr(scores[0]) == repr(scores[1])
    assert scores[0][1:] == [float("inf"), 0.1, None]
    if engine.dialect.name == "postgresql":
        assert math.isnan(scores[0][0])


def test_on_postgresql_the_rows_travel_as_one_json_document(engine):
    statements = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *args: statements.append(statement))
    with Session(engine) as session:
        insert_rows(session, by_driver, ROWS)
        insert_rows(session, measured, [dict(name="a", score=1.0)])
        session.commit()
    inserts = [s for s in statements if s.startswith("INSERT")]
    assert len(inserts) == 2
    if engine.dialect.name == "postgresql":
        assert "jsonb_populate_recordset" in inserts[0] and "VALUES" not in inserts[0]
        assert "VALUES" in inserts[1]
    else:
        assert all("VALUES (?" in s for s in inserts)


claims = Table("claims", metadata,
               Column("consumer", String(32), primary_key=True),
               Column("event_id", String(36), primary_key=True),
               Column("at", Instant(), nullable=False))


def test_insert_new_rows_inserts_what_is_not_there_and_returns_those_keys(engine):
    """A batch's claims: rows already stored (a redelivery) and repeats within the batch are
    left out, the rest stored once, and their keys returned."""
    at = datetime(2023, 7, 1, 9, 30, 0, 123456, tzinfo=CHINA)
    with Session(engine) as session:
        assert insert_new_rows(session, claims, [dict(consumer="c", event_id="e1", at=at)],
                               claims.c.event_id) == {"e1"}
        session.commit()
    batch = [dict(consumer="c", event_id=e, at=at) for e in ("e1", "e2", "e3", "e2")]
    with Session(engine) as session:
        assert insert_new_rows(session, claims, batch, claims.c.event_id,
                               conflict=[claims.c.consumer, claims.c.event_id]) == {"e2", "e3"}
        assert insert_new_rows(session, claims, [], claims.c.event_id) == set()
        session.commit()
    with engine.connect() as conn:
        rows = conn.execute(select(claims).order_by(claims.c.event_id)).all()
    assert [(r.consumer, r.event_id) for r in rows] == [("c", "e1"), ("c", "e2"), ("c", "e3")]
    assert all(r.at == at for r in rows)


def test_values_present_finds_exactly_the_stored_values_in_slices_of_500(engine):
    stored_ids = [f"e{i}'\\x" for i in range(0, 1200, 2)]
    with Session(engine) as session:
        insert_rows(session, claims, [dict(consumer="c", event_id=e,
                                           at=datetime(2023, 7, 1, tzinfo=CHINA))
                                      for e in stored_ids])
        session.commit()
    asked = [f"e{i}'\\x" for i in range(1200)] + [None, "甲"]
    with Session(engine) as session:
        assert values_present(session, claims.c.event_id, asked) == set(stored_ids)
        assert values_present(session, claims.c.event_id, []) == set()
