"""Each service's migrations build the tables its models describe (on SQLite, and on
PostgreSQL in the CI pass that sets ZHICHENG_TEST_POSTGRES): a model changed without its
migration, or a migration without its model, fails here rather than in a bureau's database."""
import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import UniqueConstraint, inspect

from shared.db import make_engine
from shared.migrations import upgrade


def _unique_columns_in_database(inspector, table: str) -> set[tuple[str, ...]]:
    found = {tuple(c["column_names"]) for c in inspector.get_unique_constraints(table)}
    found |= {tuple(i["column_names"]) for i in inspector.get_indexes(table) if i["unique"]}
    return found


def _unique_columns_in_model(table) -> set[tuple[str, ...]]:
    found = {tuple(c.name for c in constraint.columns) for constraint in table.constraints
             if isinstance(constraint, UniqueConstraint)}
    found |= {(column.name,) for column in table.columns if column.unique}
    return found


def _differences(engine, metadata) -> list:
    """Alembic's comparison, less unique constraints that differ only in name: the first
    revisions let the database name them, the models name them by convention (and SQLite's
    unnamed ones are not compared by Alembic at all)."""
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        inspector = inspect(conn)
        left = []
        for diff in diffs:
            if diff[0] in ("add_constraint", "remove_constraint") \
                    and isinstance(diff[1], UniqueConstraint):
                table = diff[1].table
                columns = tuple(c.name for c in diff[1].columns)
                if columns in _unique_columns_in_database(inspector, table.name) \
                        and columns in _unique_columns_in_model(metadata.tables[table.name]):
                    continue
            left.append(diff)
        return left


@pytest.mark.parametrize("service", ["intake", "review", "experts", "audit"])
def test_the_migrations_build_the_tables_the_models_describe(databases, service):
    models = importlib.import_module(f"services.{service}.models")
    engine = make_engine(databases.url(service))
    try:
        upgrade(service, engine)
        assert _differences(engine, models.metadata) == []
    finally:
        engine.dispose()


def test_a_model_index_without_its_migration_is_found(databases):
    """The comparison is not blind: an index the models have and the migrations do not."""
    from sqlalchemy import Index, MetaData

    from services.audit import models

    metadata = MetaData(naming_convention=models.metadata.naming_convention)
    for table in models.metadata.tables.values():
        table.to_metadata(metadata)
    Index("ix_audit_records_correlation", metadata.tables["audit_records"].c.correlation_id)
    engine = make_engine(databases.url("audit"))
    try:
        upgrade("audit", engine)
        assert [d[0] for d in _differences(engine, metadata)] == ["add_index"]
    finally:
        engine.dispose()
