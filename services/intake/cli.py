"""``zhicheng plan …``: the review plan (评审计划) from its data file."""
from __future__ import annotations

import json
from pathlib import Path

import click


@click.group("plan")
def plan_group() -> None:
    """Review plans (评审计划)."""


@plan_group.command("show")
@click.argument("year", type=int, required=False)
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="a plan file of any year (default: services/intake/plans/<year>.yaml)")
@click.option("--json", "as_json", is_flag=True, help="print the whole plan as JSON")
def plan_show(year: int | None, path: Path | None, as_json: bool) -> None:
    """Print the plan of YEAR (or of --file)."""
    from services.intake.plan import PlanFileError, load_plan, load_plan_year
    from shared.errors import NotFound

    if year is None and path is None:
        raise click.UsageError("give a YEAR or --file")
    try:
        plan = load_plan(path) if path else load_plan_year(year)
    except (PlanFileError, NotFound) as exc:
        raise click.ClickException(str(exc)) from None
    if year is not None and plan.year != year:
        raise click.ClickException(f"the file holds the {plan.year} plan, not {year}")
    data = plan.as_dict()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    counts = data["counts"]
    click.echo(f"{plan.year} plan ({plan.state}): {counts['main']} main, {counts['delegated']} "
               f"delegated, {counts['socialized']} socialized; reviews finish by "
               f"{data['review_completion_deadline']}")
    for c in data["committees"]:
        titles = "、".join(t["name"] + ("（推荐）" if t["recommend_only"] else "") for t in c["titles"])
        click.echo(f"{c['code']}  review {c['review_month']:>2}月  materials by "
                   f"{c['material_deadline']}  {c['scope']['text']:<10} {c['name']}  [{titles}]")


commands = [plan_group]
