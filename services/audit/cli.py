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
