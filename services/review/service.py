"""The review service: nameko entrypoints only (load, call a handler, dump)."""
from services.review import models
from shared.platform import Database, ServiceBase


class ReviewService(ServiceBase):
    name = "review"
    db = Database(models.metadata)
