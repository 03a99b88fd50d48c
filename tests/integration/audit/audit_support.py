"""Helpers for the audit integration tests: envelopes of any type, a migrated audit database."""
import uuid
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit import handlers
from services.audit.checkpoint import HeadSigner
from services.audit.models import metadata
from shared.clock import CHINA
from shared.db import ServiceDatabase
from shared.migrations import upgrade

T0 = datetime(2023, 9, 1, 9, 0, tzinfo=CHINA)
IDENTITY = "11010519491231002X"
PERSON_KEY = b"integration-person-key"


def envelope(event_type, producer="review", minutes=0, **payload):
    event_id = str(uuid.uuid4())
    return {"event_id": event_id, "event_type": event_type, "version": 1,
            "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat(), "producer": producer,
            "correlation_id": event_id, "causation_id": None, "payload": payload}


def audit_database(databases):
    db = ServiceDatabase("audit", databases.url("audit"), metadata)
    upgrade("audit", db.engine)
    return db


def audit_log(key=None):
    key = key or Ed25519PrivateKey.generate()
    return handlers.AuditLog(handlers.AuditSettings(log_id="test-log",
                                                    signer=HeadSigner(key, "test-log"),
                                                    person_key=PERSON_KEY))


def record(db, log, clock, env):
    with db.unit_of_work(clock) as uow:
        return handlers.record_event(uow, log, env, received_at=clock.now())


def a_case_story(case_id="C1", committee_id="K7"):
    """A small, compliant story of one case (plus an applicant identity in the payload)."""
    return [
        envelope("submission_accepted", "intake", 0, case_id=case_id, committee_id=committee_id,
                 employer_id="U9", applicant={"identity_number": IDENTITY, "name": "张三"}),
        envelope("publicity_started", "review", 10, case_ids=[case_id], stage="pre_review",
                 ends_at=(T0 + timedelta(days=5)).isoformat()),
        envelope("meeting_held", "review", 60 * 24 * 6, meeting_id="M1", committee_id=committee_id,
                 case_ids=[case_id], held_at=(T0 + timedelta(days=6)).isoformat()),
    ]
