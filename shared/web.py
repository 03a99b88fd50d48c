"""HTTP for nameko services: JSON in, JSON out, one error shape, no tracebacks.

``@http("POST", "/submissions")`` methods return a dict/list (200), ``(status, body)`` or a
werkzeug ``Response``; they raise :class:`ZhichengError` for anything a client did wrong.
Unknown paths and methods get the same JSON error shape.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from marshmallow import Schema
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from shared.errors import InvalidInput, ZhichengError
from shared.schemas import load

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2 * 1024 * 1024
JSON = "application/json; charset=utf-8"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, default=str), status=status,
                    headers=headers, mimetype="application/json", content_type=JSON)


def error_response(code: str, message: str, status: int, rule: str | None = None,
                   details: Any = None) -> Response:
    return json_response({"error": {"code": code, "message": message, "rule": rule,
                                    "details": details}}, status=status)


def _http_exception_response(exc: HTTPException) -> Response:
    code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
        exc.code or 400, "bad_request")
    return error_response(code, exc.name or "bad request", exc.code or 400)


class JsonWsgiApp(WsgiApp):
    """nameko's WSGI app, answering unknown paths and methods with the JSON error shape."""

    def __call__(self, environ, start_response):
        request = Request(environ, shallow=True)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            provider, values = adapter.match()
            request.path_values = values
            response = provider.handle_request(request)
        except HTTPException as exc:
            response = _http_exception_response(exc)
        return response(environ, start_response)


class JsonWebServer(WebServer):
    def get_wsgi_app(self):
        return JsonWsgiApp(self)


PUBLIC = "public"


class HttpEntrypoint(HttpRequestHandler):
    """``@http(method, url, roles=("bureau",))``: the roles a caller must hold one of, checked
    from the bearer token before any worker runs (401 without a valid token, 403 with another
    role). ``roles=PUBLIC`` marks an endpoint open to anyone. Every endpoint says which; the
    authorization matrix test walks them all."""

    server = JsonWebServer()

    def __init__(self, method: str, url: str, roles: tuple[str, ...] | str | None = None,
                 **kwargs) -> None:
        kwargs.setdefault("expected_exceptions", (ZhichengError,))
        if roles is None:
            raise TypeError(f"{method} {url}: declare roles=(...) or roles=PUBLIC")
        if roles != PUBLIC:
            from shared.auth import ROLES

            unknown = [r for r in roles if r not in ROLES]
            if isinstance(roles, str) or unknown or not roles:
                raise TypeError(f"{method} {url}: roles must be PUBLIC or a tuple of {ROLES}")
        self.roles = roles
        super().__init__(method, url, **kwargs)

    def handle_request(self, request):
        if self.roles != PUBLIC:
            from shared.auth import Authorizer

            try:
                Authorizer(self.container.config["JWT_SECRET"]).require(request, *self.roles)
            except ZhichengError as exc:
                return json_response(exc.as_dict(), status=exc.status)
        return super().handle_request(request)

    def response_from_result(self, result: Any) -> Response:
        if isinstance(result, Response):
            return result
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int):
            status, body = result
            return json_response(body, status=status)
        return json_response(result)

    def response_from_exception(self, exc: Exception) -> Response:
        if isinstance(exc, ZhichengError):
            return json_response(exc.as_dict(), status=exc.status)
        if isinstance(exc, HTTPException):
            return _http_exception_response(exc)
        log.error("unexpected error in %s %s: %s", self.method, self.url, type(exc).__name__)
        return error_response("internal", "internal error; the operators have been notified",
                              500)


http = HttpEntrypoint.decorator


def read_json(request, schema: Schema | None = None, *, what: str = "request") -> Any:
    """The request's JSON body, loaded through ``schema`` when given."""
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise InvalidInput(f"the {what} is larger than {MAX_BODY_BYTES} bytes", code="too_large",
                           status=413)
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidInput(f"the {what} is larger than {MAX_BODY_BYTES} bytes", code="too_large",
                           status=413)
    if not raw:
        raise InvalidInput(f"the {what} has no body; send JSON", code="invalid_json")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(f"the {what} body is not valid JSON", code="invalid_json") from None
    return load(schema, data, what=what) if schema is not None else data


def query_int(request, name: str, default: int, *, minimum: int = 0, maximum: int = 10_000) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"query parameter {name} must be an integer",
                           details={"fields": {name: ["must be an integer"]}}) from None
    if not minimum <= value <= maximum:
        raise InvalidInput(f"query parameter {name} must be between {minimum} and {maximum}",
                           details={"fields": {name: [f"between {minimum} and {maximum}"]}})
    return value
