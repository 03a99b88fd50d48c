"""``zhicheng review ...``: check a certificate number offline, end due public notices now,
count working days."""
from __future__ import annotations

import json
import sys
from datetime import date, datetime, timedelta, timezone

import click


@click.group("review")
def review() -> None:
    """The review service (评审): certificates, public notices, working days."""


@review.command("check-certificate")
@click.argument("number")
def check_certificate(number: str) -> None:
    """Check a certificate number's check character offline (no look-up)."""
    from shared.errors import RuleRefused
    from services.review.certificate import parse_number

    try:
        click.echo(parse_number(number) + " has a valid check character")
    except RuleRefused as exc:
        click.echo(exc.message + ": " + exc.violations[0].as_dict()["message"], err=True)
        sys.exit(1)


@review.command("publicity-window")
@click.argument("starts_on")
@click.option("--working-days", default=None, type=int,
              help="length in working days (default: the review policy's, 5)")
def publicity_window_(starts_on: str, working_days: int | None) -> None:
    """The window of a public notice starting on STARTS_ON (YYYY-MM-DD), on China's official
    calendar (make-up working days count)."""
    from shared.workdays import publicity_window
    from services.review.policy import load_policy

    days = working_days or load_policy().publicity_working_days
    click.echo(json.dumps(publicity_window(date.fromisoformat(starts_on), days).as_dict(),
                          indent=2))


@review.command("tick")
def tick() -> None:
    """Ask the running review service to end every public notice that is due by its clock."""
    import requests

    from shared.auth import issue_token
    from shared.config import http_port, jwt_secret

    headers = {"Authorization": "Bearer " + issue_token(
        jwt_secret(), "zhicheng-cli", ["operator"], now=datetime.now(timezone.utc),
        ttl=timedelta(minutes=5))}
    r = requests.post(f"http://127.0.0.1:{http_port('review')}/admin/tick", json={},
                      headers=headers, timeout=30)
    click.echo(json.dumps(r.json(), ensure_ascii=False, indent=2))
    if not r.ok:
        sys.exit(1)


commands = [review]
