"""Identity numbers and names never leave intake's door (issue 8; 个人信息): after applications
over HTTP and AMQP (accepted, refused, malformed), no log line of any service, no metric, no
stored event and no error body contains one. Logs run at DEBUG, the most talkative level."""
import json

import pytest
import requests
from kombu import Connection, Producer
from sqlalchemy import create_engine, text

from shared.messaging import PORTAL_SUBMISSIONS_QUEUE
from shared.simulation.portal import REFUSALS, ApplicationFactory, PortalPublisher


@pytest.fixture
def platform_env(platform_env):
    platform_env.update({"LOG_LEVEL": "DEBUG",
                         "ZHICHENG_CLOCK": "running:2023-07-15T09:00:00+08:00"})
    return platform_env


def test_no_identity_number_or_name_in_logs_metrics_events_or_errors(platform, auth_header,
                                                                       vhost, wait):
    r = requests.post(platform.url("intake") + "/plans/2023/publish",
                      headers=auth_header("bureau"), timeout=10)
    assert r.status_code in (200, 201), r.text
    factory = ApplicationFactory(seed=99, prefix="LEAK")
    apps = [factory.valid(t) for t in ("R22", "D01", "D02")] + \
        [factory.refused(rule) for rule in sorted(REFUSALS)]
    secrets_ = set()
    for app in apps:
        secrets_.add(app["applicant"]["identity_number"])
        secrets_.add(app["applicant"]["name"])
    bodies = []
    portal = auth_header("portal")
    for app in apps[: len(apps) // 2]:  # half over HTTP
        bodies.append(requests.post(platform.url("intake") + "/submissions", json=app,
                                    headers=portal, timeout=10).text)
    with PortalPublisher(vhost.uri) as publisher:  # half over the portal queue
        for app in apps[len(apps) // 2:]:
            publisher.publish(app)
    # a malformed message that still carries an identity number and a name
    broken = dict(apps[0], portal_id="LEAK-broken", professional_work_years="many")
    with Connection(vhost.uri) as conn:
        Producer(conn.channel()).publish(json.dumps(broken, ensure_ascii=False).encode(),
                                         exchange="", routing_key=PORTAL_SUBMISSIONS_QUEUE,
                                         content_type="application/json")
    bodies.append(requests.post(platform.url("intake") + "/submissions", json=broken,
                                headers=portal, timeout=10).text)

    def answered():
        r = requests.get(platform.url("audit") + "/records?event_type=submission_received"
                         "&limit=200", headers=auth_header("inspector"), timeout=10)
        return r.ok and len(r.json()["items"]) >= len(apps)
    wait(answered, timeout=60, message="every application answered and recorded")

    places = {f"{s} log": platform.log_path(s).read_text(errors="replace")
              for s in platform.procs}
    places.update({f"{s} /metrics": requests.get(platform.url(s) + "/metrics", timeout=10).text
                   for s in platform.procs})
    places["HTTP answers"] = "\n".join(bodies)
    audit_db = create_engine(platform.env["AUDIT_DATABASE_URL"])
    with audit_db.connect() as conn:
        places["audit store"] = "\n".join(
            row[0] for row in conn.execute(text("SELECT envelope FROM audit_records")))
    assert places["audit store"].count("submission_received") >= len(apps)
    assert all(len(places[f"{s} log"]) > 1000 for s in platform.procs), "logs too thin to judge"
    for where, content in places.items():
        leaked = sorted(s for s in secrets_ if s in content)
        assert not leaked, f"{where} contains personal data ({len(leaked)} values)"
