"""Roles and signed role tokens (JWT, HS256).

Tokens are minted only by whoever holds the key (``zhicheng token issue``); no endpoint mints or
widens one, so no role can grant itself another.

Roles, in the bureau's terms:

| role | who | may |
|---|---|---|
| ``portal`` | the upstream declaration portal (申报平台) | submit applications |
| ``committee_office`` | a review committee's office (评委会办公室) | qualification, meetings, votes; see sealed panels |
| ``bureau`` | the district HR bureau (区人力社保局) | publish plans, approve pool changes, emergency draws, deadline changes |
| ``supervisor`` | the bureau's supervisor of draws | contribute randomness to draws and samples |
| ``inspector`` | inspectors (监督检查) | query the audit record, spot checks, notices |
| ``operator`` | operations | set the clock in demos (when enabled) |
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

import jwt
from nameko.extensions import DependencyProvider

from shared.errors import Forbidden, Unauthorized

ROLES: tuple[str, ...] = ("portal", "committee_office", "bureau", "supervisor", "inspector",
                          "operator")
ISSUER = "zhicheng"
ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    committees: frozenset[str] = frozenset()  # empty: every committee

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


ANONYMOUS = Principal(subject="anonymous", roles=frozenset())


def issue_token(secret: str, subject: str, roles: Iterable[str], *, now: datetime,
                ttl: timedelta = timedelta(hours=8), committees: Iterable[str] = ()) -> str:
    roles = sorted(set(roles))
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ValueError(f"unknown or missing roles: {unknown or roles}; known: {', '.join(ROLES)}")
    claims = {"iss": ISSUER, "sub": subject, "roles": roles, "iat": int(now.timestamp()),
              "exp": int((now + ttl).timestamp())}
    committees = sorted(set(committees))
    if committees:
        claims["committees"] = committees
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_token(secret: str, token: str) -> Principal:
    """Verify signature, issuer and expiry (against real time: tokens are a security boundary,
    not part of the simulated review calendar)."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["exp", "iat", "sub", "iss"]}, leeway=30)
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired", code="token_expired") from None
    except jwt.PyJWTError:
        raise Unauthorized("the token is not valid", code="invalid_token") from None
    roles = claims.get("roles")
    if not isinstance(roles, list) or not roles or any(r not in ROLES for r in roles):
        raise Unauthorized("the token names no known role", code="invalid_token")
    committees = claims.get("committees") or []
    return Principal(subject=str(claims["sub"]), roles=frozenset(roles),
                     committees=frozenset(str(c) for c in committees))


def bearer_token(headers) -> str | None:
    value = headers.get("Authorization", "")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use 'Authorization: Bearer <token>'", code="invalid_token")
    return token.strip()


class Authorizer:
    """What a worker uses: ``principal = self.auth.require(request, "bureau")``."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def principal(self, request) -> Principal:
        token = bearer_token(request.headers)
        if token is None:
            return ANONYMOUS
        return read_token(self.secret, token)

    def require(self, request, *roles: str) -> Principal:
        token = bearer_token(request.headers)
        if token is None:
            raise Unauthorized("this action needs a role token", code="unauthenticated",
                               details={"roles": list(roles)})
        principal = read_token(self.secret, token)
        if roles and not principal.has(*roles):
            raise Forbidden("this action needs another role", code="forbidden",
                            details={"roles": list(roles)})
        return principal


class Auth(DependencyProvider):
    def setup(self) -> None:
        secret = self.container.config.get("JWT_SECRET")
        if not secret:
            raise RuntimeError("JWT_SECRET is not configured")
        self.authorizer = Authorizer(secret)

    def get_dependency(self, worker_ctx) -> Authorizer:
        return self.authorizer
