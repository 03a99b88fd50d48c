"""A clean 2023 season on the platform as separate processes (fresh vhost and databases), driven
only through public HTTP and AMQP: every step happens as expected and audit finds nothing."""
from shared.simulation.season import Season, SeasonSettings


def season_settings(platform, platform_env, **overrides) -> SeasonSettings:
    urls = {s: platform.url(s) for s in ("intake", "review", "experts", "audit")}
    return SeasonSettings(urls=urls, amqp_uri=platform_env["AMQP_URI"],
                          jwt_secret=platform_env["ZHICHENG_JWT_SECRET"],
                          person_key=platform_env["ZHICHENG_PERSON_KEY"].encode(),
                          **overrides)


def test_a_clean_season_meets_every_expectation_with_zero_violations(platform, platform_env):
    # no official tries anything the rules forbid (the demo's season has the bureau try an
    # unapproved deadline change, which is refused and reported)
    summary = Season(season_settings(platform, platform_env, applications=120,
                                     attempt_unapproved_deadline=False)).run()

    assert summary.ok, summary.table()
    assert summary.violations == {}
    assert summary.audit_chain_verified
    assert summary.accepted == 120
    assert summary.cases_by_state["certificate_issued"] + summary.cases_by_state["failed"] == 118
    assert summary.emergency_draws == 1
    assert len(summary.refusals_by_rule) >= 18
