from datetime import datetime, timedelta, timezone

import jwt
import pytest

from shared.auth import ISSUER, issue_token, read_token
from shared.errors import RuleRefused, Unauthorized
from shared.rules import RuleBook

NOW = datetime.now(timezone.utc)
KEY = "k" * 64


def test_rule_refusal_lists_every_violation_with_rule_and_clause():
    book = RuleBook()
    a = book.define("T-A", "三(二)", "deadline passed", "已过截止时间")
    b = book.define("T-B", "二(二)", "classified material", "涉密材料")
    err = RuleRefused([a.violation(field="submitted_at"), b.violation(field="materials[0]")])
    body = err.as_dict()["error"]
    assert err.status == 422 and body["rule"] == "T-A"
    assert [(v["rule"], v["clause"], v["field"]) for v in body["details"]["violations"]] == \
        [("T-A", "三(二)", "submitted_at"), ("T-B", "二(二)", "materials[0]")]
    assert body["details"]["violations"][1]["message_zh"] == "涉密材料"


def test_a_rule_id_cannot_mean_two_things():
    book = RuleBook()
    book.define("T-A", "三(二)", "x", "x")
    with pytest.raises(ValueError):
        book.define("T-A", "三(三)", "y", "y")


def test_token_round_trip_keeps_subject_roles_and_committees():
    t = issue_token(KEY, "office-7", ["committee_office"], now=NOW, committees=["D01"])
    p = read_token(KEY, t)
    assert p.subject == "office-7" and p.has("committee_office") and not p.has("bureau")
    assert p.committees == frozenset({"D01"})


@pytest.mark.parametrize("make", [
    lambda: issue_token("other-" + KEY, "x", ["inspector"], now=NOW),
    lambda: issue_token(KEY, "x", ["inspector"], now=NOW - timedelta(days=2),
                        ttl=timedelta(hours=1)),
    lambda: jwt.encode({"iss": ISSUER, "sub": "x", "roles": ["root"], "iat": int(NOW.timestamp()),
                        "exp": int(NOW.timestamp()) + 60}, KEY, algorithm="HS256"),
    lambda: jwt.encode({"iss": ISSUER, "sub": "x", "roles": ["inspector"]}, KEY,
                       algorithm="HS256"),
    lambda: jwt.encode({"iss": ISSUER, "sub": "x", "roles": ["inspector"],
                        "iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 60}, KEY,
                       algorithm="HS512"),
    lambda: "not.a.token",
])
def test_forged_expired_or_malformed_tokens_are_refused(make):
    with pytest.raises(Unauthorized):
        read_token(KEY, make())


def test_unknown_roles_cannot_be_issued():
    with pytest.raises(ValueError):
        issue_token(KEY, "x", ["admin"], now=NOW)
