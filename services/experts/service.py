"""The experts service: nameko entrypoints only (load, call a handler, dump)."""
from services.experts import models
from shared.platform import Database, ServiceBase


class ExpertsService(ServiceBase):
    name = "experts"
    db = Database(models.metadata)
