"""Load :class:`services.review.rules.ReviewPolicy` from ``policy.yaml`` and the environment."""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping

import yaml

from services.review.rules import ReviewPolicy

POLICY_FILE = Path(__file__).with_name("policy.yaml")

_ENV = {
    "publicity_working_days": "REVIEW_PUBLICITY_WORKING_DAYS",
    "minimum_publicity_working_days": "REVIEW_MINIMUM_PUBLICITY_WORKING_DAYS",
    "quorum_share": "REVIEW_QUORUM_SHARE",
    "pass_share": "REVIEW_PASS_SHARE",
    "certificate_prefix": "REVIEW_CERTIFICATE_PREFIX",
}


def _coerce(name: str, value: Any) -> Any:
    if name.endswith("_share"):
        return Fraction(str(value))
    if name.endswith("_days"):
        return int(value)
    return str(value)


def load_policy(path: Path | str | None = None,
                environ: Mapping[str, str] | None = None) -> ReviewPolicy:
    """Defaults, then ``policy.yaml``, then environment overrides. Invalid values raise."""
    data: dict[str, Any] = {}
    file = Path(path) if path is not None else POLICY_FILE
    if file.exists():
        loaded = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        unknown = set(loaded) - set(_ENV)
        if unknown:
            raise ValueError(f"unknown review policy keys: {sorted(unknown)}")
        data.update(loaded)
    env = os.environ if environ is None else environ
    for name, variable in _ENV.items():
        if env.get(variable):
            data[name] = env[variable]
    return ReviewPolicy(**{name: _coerce(name, value) for name, value in data.items()})
