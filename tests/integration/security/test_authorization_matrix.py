"""Every HTTP endpoint of every service, every role: the roles an endpoint declares are the only
ones that get past its door (issue 8: no role reaches what it may not see, none grants itself
another). The list of endpoints is read from the service classes, so a new endpoint is covered
the moment it exists."""
import re

import pytest
import requests

from shared.auth import ROLES
from shared.cli import SERVICE_CLASSES, load_service_class
from shared.web import PUBLIC, HttpEntrypoint


def endpoints(service_cls):
    for name in dir(service_cls):
        for entrypoint in getattr(getattr(service_cls, name), "nameko_entrypoints", ()):
            if isinstance(entrypoint, HttpEntrypoint):
                yield entrypoint


def concrete(url: str) -> str:
    """A path that matches the rule (the door is checked before the path's values are used)."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: "1" if "int:" in m.group(0) else "X1",
                  url)


ALL = [(service, ep.method, ep.url, ep.roles)
       for service in SERVICE_CLASSES
       for ep in endpoints(load_service_class(service))]


def test_every_endpoint_declares_its_roles():
    assert ALL, "no endpoints found"
    for service, method, url, roles in ALL:
        assert roles == PUBLIC or (roles and set(roles) <= set(ROLES)), (service, method, url)


@pytest.fixture
def services(start_service):
    return {name: start_service(load_service_class(name)) for name in SERVICE_CLASSES}


def test_only_declared_roles_pass_the_door_of_every_endpoint(services, auth_header):
    checked = 0
    for service, method, url, roles in ALL:
        if roles == PUBLIC:
            continue
        target = services[service].url + concrete(url)
        for method_one in method.split(","):
            anonymous = requests.request(method_one, target, timeout=5, json={})
            assert anonymous.status_code == 401, (service, method_one, url)
            forged = requests.request(method_one, target, timeout=5, json={},
                                      headers={"Authorization": "Bearer forged.token.value"})
            assert forged.status_code == 401, (service, method_one, url)
            for role in ROLES:
                r = requests.request(method_one, target, timeout=5, json={},
                                     headers=auth_header(role))
                if role in roles:
                    assert r.status_code not in (401, 403), (service, method_one, url, role,
                                                             r.text)
                else:
                    assert r.status_code == 403, (service, method_one, url, role)
                    assert set(r.json()["error"]) == {"code", "message", "rule", "details"}
                checked += 1
    assert checked >= len(ROLES)
