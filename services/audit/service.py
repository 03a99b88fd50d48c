"""The audit service: consumes every event of every service through one durable queue."""
from services.audit import handlers, models
from shared.messaging import AUDIT_QUEUE, consume_events
from shared.platform import Database, ServiceBase
from shared.web import http, query_int


class AuditService(ServiceBase):
    name = "audit"
    db = Database(models.metadata)

    @consume_events(AUDIT_QUEUE)
    def record(self, envelope):
        with self.db.unit_of_work() as uow:
            handlers.record_event(uow, envelope, received_at=self.clock.now())
            uow.commit()

    @http("GET", "/records", roles=("inspector",))
    def records(self, request):
        """The record in order (inspectors only): ``?after=<seq>&limit=&event_type=``."""
        after = query_int(request, "after", 0, maximum=2**62)
        limit = query_int(request, "limit", 100, minimum=1, maximum=1000)
        event_type = request.args.get("event_type") or None
        with self.db.unit_of_work() as uow:
            items = handlers.list_records(uow, after=after, limit=limit, event_type=event_type)
        return {"items": items, "next_after": items[-1]["seq"] if items else after}
