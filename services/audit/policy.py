"""Numbers the audit service takes from the notice or from the bureau's practice, in one place.

Defaults come from the notice (虞人社职〔2023〕1号); a deployment overrides them through settings
(``AUDIT_POLICY_*`` environment variables, read by the service adapter), never in code.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Mapping


@dataclass(frozen=True)
class AuditPolicy:
    emergency_draw_cap: Fraction = Fraction(3, 10)
    """三(一): 应急抽取比例原则上不超过评委人数的 30%."""
    spot_check_share: Fraction = Fraction(1, 10)
    """三(三) 随机抽查: default share of accepted cases sampled per committee (bureau's choice)."""
    key_supervision_threshold: int = 1
    """三(三) 重点督查: a committee with at least this many unacknowledged violations is proposed."""
    sample_algorithm: str = "zhicheng-sample/1"


def _fraction(text: str) -> Fraction:
    text = text.strip()
    if text.endswith("%"):
        return Fraction(text[:-1]) / 100
    return Fraction(text)


def policy_from_settings(env: Mapping[str, str]) -> AuditPolicy:
    """Read overrides such as ``AUDIT_POLICY_EMERGENCY_DRAW_CAP=30%`` from a mapping."""
    policy = AuditPolicy()
    if env.get("AUDIT_POLICY_EMERGENCY_DRAW_CAP"):
        policy = replace(policy, emergency_draw_cap=_fraction(env["AUDIT_POLICY_EMERGENCY_DRAW_CAP"]))
    if env.get("AUDIT_POLICY_SPOT_CHECK_SHARE"):
        policy = replace(policy, spot_check_share=_fraction(env["AUDIT_POLICY_SPOT_CHECK_SHARE"]))
    if env.get("AUDIT_POLICY_KEY_SUPERVISION_THRESHOLD"):
        policy = replace(policy, key_supervision_threshold=int(
            env["AUDIT_POLICY_KEY_SUPERVISION_THRESHOLD"]))
    return policy
