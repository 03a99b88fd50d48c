"""Events every service emits about itself."""
from marshmallow import fields, validate

from shared.config import SERVICES
from shared.events.catalogue import PayloadSchema, register


class ServiceStarted(PayloadSchema):
    service = fields.String(required=True, validate=validate.OneOf(SERVICES))
    version = fields.String(required=True)
    instance = fields.String(required=True)
    schema_revision = fields.String(required=True, allow_none=True)


for _service in SERVICES:
    register(f"{_service}_started", producer=_service, schema=ServiceStarted,
             description=f"the {_service} service started (instance, code version, schema "
                         f"revision): inspectors see every restart")
