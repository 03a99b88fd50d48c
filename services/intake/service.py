"""The intake service: nameko entrypoints only (load, call a handler, dump)."""
from services.intake import models
from shared.platform import Database, ServiceBase


class IntakeService(ServiceBase):
    name = "intake"
    db = Database(models.metadata)
