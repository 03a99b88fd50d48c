"""``zhicheng``: run, operate and inspect the platform.

Services add their own commands in ``services/<svc>/cli.py`` (a ``commands`` list of click
commands or groups), picked up here.
"""
from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path

import click

from shared.config import SERVICES

SERVICE_CLASSES = {
    "intake": "services.intake.service:IntakeService",
    "review": "services.review.service:ReviewService",
    "experts": "services.experts.service:ExpertsService",
    "audit": "services.audit.service:AuditService",
}


def load_service_class(service: str):
    module, _, attr = SERVICE_CLASSES[service].partition(":")
    return getattr(importlib.import_module(module), attr)


def _service_url(service: str) -> str:
    from shared.launcher import Platform
    return Platform(log_dir=_run_dir()).url(service)


@click.group(help=__doc__)
def cli() -> None:
    pass


@cli.command()
@click.argument("service", type=click.Choice(SERVICES))
def serve(service: str) -> None:
    """Run one service in the foreground until SIGTERM or Ctrl-C."""
    import logging

    import eventlet
    from nameko.runners import ServiceRunner

    from shared.config import Settings

    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format=f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
    # nameko logs every expected refusal (a rule, a missing role) with a traceback at WARNING;
    # the refusal is already the client's answer and a metric, so keep only real errors
    logging.getLogger("nameko.containers").setLevel(logging.ERROR)
    settings = Settings(service=service)
    runner = ServiceRunner(settings.nameko_config())
    runner.add_service(load_service_class(service))

    def _stop(signum, frame):  # stop gracefully: finish running workers
        eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    runner.start()
    click.echo(f"{service} listening on {_service_url(service)}", err=True)
    runner.wait()


def _run_dir() -> Path:
    from shared.config import var_dir
    path = var_dir() / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


@cli.command()
@click.option("--detach", is_flag=True, help="start in the background (stop with `zhicheng down`)")
@click.option("--timeout", default=60.0, show_default=True, help="seconds to wait for /readyz")
def up(detach: bool, timeout: float) -> None:
    """Start the four services, wait until ready, print their URLs."""
    from shared.config import var_dir
    from shared.launcher import NotReady, Platform

    for service in SERVICES:
        pidfile = _run_dir() / f"{service}.pid"
        if pidfile.exists() and _alive(int(pidfile.read_text())):
            raise click.ClickException(f"{service} already runs (pid {pidfile.read_text()}); "
                                       f"`zhicheng down` first")
    platform = Platform(log_dir=var_dir() / "log", detach=detach)
    platform.start_all()
    for service, proc in platform.procs.items():
        (_run_dir() / f"{service}.pid").write_text(str(proc.pid))
    try:
        platform.wait_ready(timeout=timeout)
    except NotReady as exc:
        _stop_all(platform)
        raise click.ClickException(f"not every service became ready: {exc}") from None
    for service in SERVICES:
        click.echo(f"  {service:8} {platform.url(service):24} log: {platform.log_path(service)}")
    click.echo("each serves /healthz /readyz /metrics")
    if detach:
        click.echo("running in the background; `zhicheng down` (or `make down`) stops them")
        return
    # Ctrl-C in a terminal reaches the whole process group: the services stop on it too, and
    # may be gone before this loop looks again. A flag (not KeyboardInterrupt, which eventlet's
    # hub may swallow while this process sleeps) tells that apart from a service that died.
    # The handlers go in before the prompt: a Ctrl-C that follows the prompt at once must find
    # them (else Python's default raises KeyboardInterrupt and click prints "Aborted!").
    interrupted = []

    def _interrupt(signum, frame):
        interrupted.append(signum)

    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    click.echo("press Ctrl-C to stop")
    try:
        while not interrupted and all(platform.alive().values()):
            time.sleep(0.2)
        if interrupted:
            click.echo("\nstopping…")
        else:
            dead = [s for s, alive in platform.alive().items() if not alive]
            click.echo(f"stopped unexpectedly: {', '.join(dead)}; stopping the others",
                       err=True)
    finally:
        _stop_all(platform)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def _stop_all(platform) -> None:
    platform.stop_all()
    for service in SERVICES:
        (_run_dir() / f"{service}.pid").unlink(missing_ok=True)


@cli.command()
def down() -> None:
    """Stop services started with `zhicheng up --detach`."""
    stopped = 0
    for service in SERVICES:
        pidfile = _run_dir() / f"{service}.pid"
        if not pidfile.exists():
            continue
        pid = int(pidfile.read_text())
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not _alive(pid):
                    break
                time.sleep(0.2)
            else:
                os.kill(pid, signal.SIGKILL)
            stopped += 1
            click.echo(f"stopped {service} (pid {pid})")
        pidfile.unlink(missing_ok=True)
    if not stopped:
        click.echo("nothing was running")


@cli.command()
@click.argument("services", nargs=-1, type=click.Choice(SERVICES))
def migrate(services: tuple[str, ...]) -> None:
    """Apply schema migrations (all services unless named)."""
    from shared.config import database_url
    from shared.db import make_engine
    from shared.migrations import upgrade

    for service in services or SERVICES:
        url = database_url(service)
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        engine = make_engine(url)
        try:
            click.echo(f"{service}: at revision {upgrade(service, engine)}")
        finally:
            engine.dispose()


@cli.command()
def status() -> None:
    """Readiness of each service."""
    import requests

    bad = 0
    for service in SERVICES:
        try:
            r = requests.get(_service_url(service) + "/readyz", timeout=2)
            click.echo(f"{service:8} {r.status_code} {json.dumps(r.json().get('checks', {}))}")
            bad += not r.ok
        except requests.RequestException as exc:
            click.echo(f"{service:8} down ({type(exc).__name__})")
            bad += 1
    sys.exit(1 if bad else 0)


@cli.group()
def token() -> None:
    """Role tokens (JWT)."""


@token.command("issue")
@click.option("--role", "roles", multiple=True, required=True,
              help="portal, committee_office, bureau, supervisor, inspector, operator")
@click.option("--subject", required=True, help="who holds the token (a staff or system id)")
@click.option("--ttl-hours", default=8.0, show_default=True)
@click.option("--committee", "committees", multiple=True, help="limit to committee codes")
def token_issue(roles, subject, ttl_hours, committees) -> None:
    """Print a signed token (needs the key: ZHICHENG_JWT_SECRET or var/jwt.secret)."""
    from datetime import datetime, timezone

    from shared.auth import issue_token
    from shared.config import jwt_secret

    try:
        click.echo(issue_token(jwt_secret(), subject, roles, now=datetime.now(timezone.utc),
                               ttl=timedelta(hours=ttl_hours), committees=committees))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.group()
def events() -> None:
    """The event catalogue."""


@events.command("list")
@click.option("--markdown", is_flag=True)
def events_list(markdown: bool) -> None:
    from shared.events import CATALOGUE

    if markdown:
        click.echo(CATALOGUE.markdown(), nl=False)
        return
    for t in sorted(CATALOGUE.types.values(), key=lambda t: (t.producer, t.name)):
        click.echo(f"{t.producer:8} {t.name:32} v{t.version}  -> "
                   f"{', '.join(sorted(set(t.consumers) | {'audit'}))}")


@cli.command("rules")
@click.option("--json", "as_json", is_flag=True)
def rules_(as_json: bool) -> None:
    """Every rule the platform enforces, with its clause."""
    load_domain_rules()
    from shared.rules import RULES

    rules = [r.as_dict() for r in RULES.all()]
    if as_json:
        click.echo(json.dumps(rules, ensure_ascii=False, indent=2))
        return
    for r in rules:
        click.echo(f"{r['id']:32} {r['clause']:10} {r['zh']}  ({r['en']})")


def load_domain_rules() -> None:
    """Import every service's rules so the rule book is complete."""
    for service in SERVICES:
        try:
            importlib.import_module(f"services.{service}.rules")
        except ModuleNotFoundError as exc:
            if exc.name != f"services.{service}.rules":
                raise


@cli.group()
def clock() -> None:
    """The services' clock (demos): show, set, reset."""


def _clock_request(method: str, body: dict | None = None) -> None:
    from datetime import datetime, timezone

    import requests

    from shared.auth import issue_token
    from shared.config import jwt_secret

    headers = {"Authorization": "Bearer " + issue_token(
        jwt_secret(), "zhicheng-cli", ["operator"], now=datetime.now(timezone.utc),
        ttl=timedelta(minutes=5))}
    failed = 0
    for service in SERVICES:
        try:
            r = requests.request(method, _service_url(service) + "/admin/clock", json=body,
                                 headers=headers, timeout=5)
            data = r.json()
            click.echo(f"{service:8} {data.get('now') or data.get('error', {}).get('message')}")
            failed += not r.ok
        except requests.RequestException as exc:
            click.echo(f"{service:8} unreachable ({type(exc).__name__})")
            failed += 1
    if failed:
        sys.exit(1)


@clock.command("show")
def clock_show() -> None:
    _clock_request("GET")


@clock.command("set")
@click.argument("instant")
@click.option("--running", is_flag=True, help="let the clock run on from INSTANT")
def clock_set(instant: str, running: bool) -> None:
    """Set every service's clock to INSTANT (ISO 8601, e.g. 2023-09-01T09:00:00+08:00)."""
    _clock_request("PUT", {"now": instant, "frozen": not running})


@clock.command("reset")
def clock_reset() -> None:
    _clock_request("PUT", {"reset": True})


@cli.command()
@click.option("--applications", default=270, show_default=True,
              help="valid applications the simulated portal sends (plus one per refusal rule)")
@click.option("--seed", default=2023, show_default=True)
@click.option("--quiet", is_flag=True, help="print only the summary table")
def demo(applications: int, seed: int, quiet: bool) -> None:
    """Play a 2023 season against the running services (`make start`), print the summary.

    Exits 1 if anything did not happen as expected. The services' clocks are set (they must run
    with ZHICHENG_CLOCK_CONTROL=1, as `make up` does); run it against fresh databases
    (`make down && make clean && make start`), since a season creates its committees."""
    from shared.config import SERVICES as names
    from shared.config import Settings, jwt_secret
    from shared.personal import person_key
    from shared.simulation.season import Season, SeasonFailed, SeasonSettings

    settings = SeasonSettings(
        urls={s: _service_url(s) for s in names}, amqp_uri=Settings(service="intake").amqp_uri,
        jwt_secret=jwt_secret(), person_key=person_key(), applications=applications, seed=seed,
        log=(lambda m: None) if quiet else (lambda m: click.echo(f"· {m}", err=True)))
    import requests
    try:
        plan = requests.get(settings.urls["intake"] + "/plans/2023", timeout=5).json()
    except requests.RequestException as exc:
        raise click.ClickException(f"intake is not reachable ({type(exc).__name__}); "
                                   f"`make start` first") from None
    if plan.get("state") != "draft":
        raise click.ClickException("the 2023 plan is already published: a season needs fresh "
                                   "databases (`make down clean start`)")
    try:
        summary = Season(settings).run()
    except SeasonFailed as exc:
        if exc.summary is not None:
            click.echo(exc.summary.table())
        else:
            click.echo(str(exc))
        sys.exit(1)
    click.echo(summary.table())


def _add_service_commands() -> None:
    for service in SERVICES:
        try:
            module = importlib.import_module(f"services.{service}.cli")
        except ModuleNotFoundError as exc:
            if exc.name != f"services.{service}.cli":
                raise
            continue
        for command in getattr(module, "commands", []):
            cli.add_command(command)


def main() -> None:
    import warnings
    warnings.filterwarnings("ignore", message=".*Eventlet is deprecated.*")
    if sys.argv[1:2] == ["serve"]:
        # before anything imports socket or threading users (kombu, nameko, psycopg2)
        import eventlet
        eventlet.monkey_patch()
    _add_service_commands()
    cli()


if __name__ == "__main__":
    main()
