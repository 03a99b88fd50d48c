"""``zhicheng draw ...``: verify a draw receipt offline, and make a party's secret and commitment.

Nothing here talks to a service: a receipt is checked with the domain code alone, so an inspector
can replay a draw on a machine of their own.
"""
from __future__ import annotations

import json
import sys

import click

from services.experts import draw as draw_domain


@click.group("draw")
def draw_group() -> None:
    """Panel draws (评委随机抽取): offline verification and party secrets."""


@draw_group.command("verify")
@click.argument("receipt", type=click.File("r", encoding="utf-8"))
@click.option("--commitment", "expected_digest", metavar="DIGEST",
              help="The commitment digest published in draw_committed before the draw; "
                   "the receipt must match it.")
@click.option("--json", "as_json", is_flag=True, help="Print the verification as JSON.")
def verify(receipt, expected_digest: str | None, as_json: bool) -> None:
    """Replay the draw in RECEIPT (a file, or - for standard input).

    Exit status 0: the receipt is consistent and the panel and reserves replay exactly;
    1: a mismatch (each one is named); 2: the file is not a receipt.
    """
    try:
        data = json.load(receipt)
    except (json.JSONDecodeError, UnicodeDecodeError):
        click.echo("not a JSON receipt", err=True)
        sys.exit(2)
    result = draw_domain.verify_receipt(data, expected_digest=expected_digest)
    if as_json:
        click.echo(json.dumps({"ok": result.ok, "problems": list(result.problems),
                               "commitment_digest": result.commitment_digest,
                               "panel": list(result.panel), "reserves": list(result.reserves)},
                              ensure_ascii=False, indent=2))
    elif result.ok:
        click.echo(f"OK: round {data['commitment']['round_id']} "
                   f"(commitment {result.commitment_digest}) replays: "
                   f"panel {', '.join(result.panel)}; reserves {', '.join(result.reserves) or '-'}")
    else:
        click.echo("MISMATCH:", err=True)
        for problem in result.problems:
            click.echo(f"  - {problem}", err=True)
    sys.exit(0 if result.ok else 1)


@draw_group.command("secret")
@click.option("--digest", "round_digest", required=True, metavar="DIGEST",
              help="The round's commitment digest (from draw_committed).")
@click.option("--party", required=True, help="Your party name in the round.")
def secret(round_digest: str, party: str) -> None:
    """Make a fresh secret on this machine and print it with its commitment.

    Submit the commitment now; keep the secret to yourself until every party has committed.
    """
    value = draw_domain.new_secret()
    click.echo(json.dumps({"party": party, "round_digest": round_digest,
                           "commitment": draw_domain.party_commitment(round_digest, party, value),
                           "secret": value}, indent=2))


@draw_group.command("commitment")
@click.option("--digest", "round_digest", required=True, metavar="DIGEST")
@click.option("--party", required=True)
@click.option("--secret", "secret_hex", required=True, help="Hex secret.")
def commitment(round_digest: str, party: str, secret_hex: str) -> None:
    """Print the commitment for a secret (to check what a party submitted)."""
    click.echo(draw_domain.party_commitment(round_digest, party, secret_hex))


commands = [draw_group]
