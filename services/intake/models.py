"""SQLAlchemy tables of the intake service."""
from shared.db import messaging_tables, new_metadata

metadata = new_metadata()
outbox, processed_events = messaging_tables(metadata)
