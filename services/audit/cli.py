"""``zhicheng audit ...`` commands.

- ``zhicheng audit verify-export FILE [--public-key PEM] [--last-head JSON]``: offline check of an
  export file (no services, no database). Exit 0 when intact; 1 when anything is wrong, naming the
  first bad record index; 2 when the file cannot be read.
- ``zhicheng audit keygen --out PATH``: a new Ed25519 signing key for the bureau, written with mode
  0600 to a path outside the repository; prints the public key.
"""
from __future__ import annotations

import json
import os
import sys

import click

from services.audit.checkpoint import (
    SignedTreeHead, SigningKeyError, load_public_key, public_key_pem, private_key_pem, key_id,
    verify_export,
)


@click.group("audit")
def audit() -> None:
    """The tamper-evident audit log (审计): verify, export, inspect."""


@audit.command("verify-export")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--public-key", "public_key", default=None,
              help="The bureau's public key (PEM file or hex) to trust instead of the export's.")
@click.option("--last-head", "last_head", default=None, type=click.Path(dir_okay=False),
              help="A signed tree head (JSON) kept from an earlier export: detects a log restored "
                   "to an older state or rewritten.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def verify_export_command(file: str, public_key: str | None, last_head: str | None,
                          as_json: bool) -> None:
    """Check an audit export offline: re-hash every record, check signatures and proofs."""
    try:
        trusted = load_public_key(public_key) if public_key else None
        last = None
        if last_head:
            with open(last_head, encoding="utf-8") as fh:
                data = json.load(fh)
            last = SignedTreeHead.from_dict(data.get("head", data) if isinstance(data, dict) else {})
        with open(file, "rb") as fh:
            report = verify_export(fh, trusted_public_key=trusted, last_known_head=last)
    except (OSError, SigningKeyError, ValueError) as exc:
        click.echo(f"cannot verify: {type(exc).__name__}: {exc}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    if report.ok:
        head = report.latest_head
        click.echo(f"OK: {report.records} records, {report.heads} signed heads, "
                   f"{report.proofs_checked} proofs; latest head size {head.tree_size} root "
                   f"{head.root_hash.hex()}")
        sys.exit(0)
    where = (f"first bad record: index {report.first_bad_index}"
             if report.first_bad_index is not None else "no single record could be named")
    click.echo(f"FAILED: {where}", err=True)
    for problem in report.problems[:20]:
        suffix = f" (index {problem.index})" if problem.index is not None else ""
        click.echo(f"  {problem.code}: {problem.detail}{suffix}", err=True)
    if len(report.problems) > 20:
        click.echo(f"  ... {len(report.problems) - 20} more", err=True)
    sys.exit(1)


@audit.command("keygen")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the private key (PEM, mode 0600). Never inside the repository.")
def keygen_command(out: str) -> None:
    """Create a new Ed25519 signing key for the audit tree heads."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if os.path.exists(out):
        click.echo("refusing to overwrite an existing key file", err=True)
        sys.exit(2)
    key = Ed25519PrivateKey.generate()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_key_pem(key))
    click.echo(f"key id {key_id(key)}; public key:")
    click.echo(public_key_pem(key).decode().strip())


commands = [audit]


def _engine(database_url: str | None):
    from shared.config import database_url as configured
    from shared.db import make_engine
    from shared.migrations import upgrade

    engine = make_engine(database_url or configured("audit"))
    upgrade("audit", engine)
    return engine


def _settings():
    from services.audit.service import settings_from_config

    return settings_from_config({})


@audit.command("verify")
@click.option("--database-url", default=None, help="Default: AUDIT_DATABASE_URL.")
@click.option("--public-key", "public_key", default=None,
              help="The bureau's public key (PEM file or hex); default: the configured key's.")
@click.option("--last-head", "last_head", default=None, type=click.Path(dir_okay=False),
              help="A signed head kept from an earlier export (detects a restored older state).")
@click.option("--json", "as_json", is_flag=True)
def verify_command(database_url, public_key, last_head, as_json) -> None:
    """Re-check the whole audit store: exit 0 when intact, 1 naming the first bad record."""
    from services.audit.handlers import verify_store

    key = load_public_key(public_key) if public_key else _settings().signer.public_key
    last = None
    if last_head:
        with open(last_head, encoding="utf-8") as fh:
            data = json.load(fh)
        last = SignedTreeHead.from_dict(data.get("head", data))
    engine = _engine(database_url)
    try:
        report = verify_store(engine, key, last_known_head=last)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    if report["intact"]:
        click.echo(f"OK: {report['records']} records intact, {report['heads_checked']} signed "
                   f"heads checked; root {report['root_hash']}")
        sys.exit(0)
    bad = report["first_bad"]
    if bad:
        click.echo(f"FAILED: first bad record at position {bad['position']} "
                   f"({bad['reason']}): {bad['detail']}", err=True)
    else:
        click.echo("FAILED: no single record could be named", err=True)
    for problem in report["problems"][:20]:
        click.echo(f"  {problem['code']}: {problem['detail']}", err=True)
    sys.exit(1)


@audit.command("sign-head")
@click.option("--database-url", default=None, help="Default: AUDIT_DATABASE_URL.")
def sign_head_command(database_url) -> None:
    """Sign the current tree head now (the service also does it periodically)."""
    from services.audit.handlers import AuditLog, sign_head
    from shared.clock import clock_from_setting
    from shared.db import ServiceDatabase
    from services.audit.models import metadata
    from shared.config import database_url as configured

    db = ServiceDatabase("audit", database_url or configured("audit"), metadata)
    from shared.migrations import upgrade
    upgrade("audit", db.engine)
    clock = clock_from_setting(os.environ.get("ZHICHENG_CLOCK"))
    log = AuditLog(_settings())
    with db.unit_of_work(clock) as uow:
        sth = sign_head(uow, log, clock, force=True)
    db.dispose()
    click.echo(json.dumps(sth.as_dict() if sth else None, indent=2))


@audit.command("export")
@click.option("--database-url", default=None, help="Default: AUDIT_DATABASE_URL.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False))
@click.option("--case-id", default=None, help="Only this case's records, with inclusion proofs.")
def export_command(database_url, out, case_id) -> None:
    """Write an export file (records, signed heads, proofs) for `verify-export`."""
    from services.audit.handlers import AuditLog, export_lines
    from shared.clock import clock_from_setting

    engine = _engine(database_url)
    log = AuditLog(_settings())
    clock = clock_from_setting(os.environ.get("ZHICHENG_CLOCK"))
    try:
        with open(out, "w", encoding="utf-8") as fh:
            for line in export_lines(engine, log, clock, case_id=case_id):
                fh.write(line)
    finally:
        engine.dispose()
    click.echo(f"wrote {out}")
