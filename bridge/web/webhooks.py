"""``POST /jira/webhook/<token>``: Jira says an issue changed.

The token is the instance's secret (``services.webhooks``): an unknown one gets 404 and
changes nothing, and is never logged. From Jira DC 10 the delivery is also signed
(``X-Hub-Signature``): a wrong signature, or none where Jira holds the key, gets 401 and
changes nothing. The snapshot is marked stale before the answer, so
the next widget view on any node no longer serves the old data; the re-read from Jira is
sent to the queue and done by a worker after the answer, because Jira 9 and older deliver
webhooks inside the request of the Jira user who made the change (developer.atlassian.com/
jiradev/jira-apis/webhooks: "processed synchronously" before 10.0), and a slow receiver
slows their Jira. A queue, not a thread per delivery: a burst of events costs a bounded
number of workers, and nothing runs unowned beside the request.
"""

from __future__ import annotations

import logging

from flask import Blueprint, request

from .. import logs, safe_json
from ..services import webhooks, widget
from ..services.context import Context
from .errors import error_body
from .security import process_cache, settings

bp = Blueprint("jira_webhooks", __name__)
log = logging.getLogger("bridge.webhooks")


@bp.post(webhooks.PATH + "<token>")
def receive(token: str):
    logs.hide(token)
    instance = webhooks.instance_for(token)
    if instance is None:
        log.warning("webhook.unknown_token")
        return error_body("not_found", "No Jira instance has this webhook address.", 404)
    try:  # over the raw bytes, before any parsing (services.webhooks: signed webhooks)
        webhooks.check_signature(instance, request.get_data(cache=True),
                                 request.headers.get(webhooks.SIGNATURE_HEADER))
    except webhooks.BadSignature as exc:
        log.warning("webhook.bad_signature instance=%s", instance.id)
        return error_body("bad_signature", str(exc), 401)
    payload = safe_json.loads(request.get_data(cache=True), what="The webhook's body")
    if not isinstance(payload, dict):  # a refusal like any malformed body: counted
        raise safe_json.MalformedJSON("A Jira webhook posts a JSON object.")
    webhooks.note_delivery(instance)  # a working webhook slows the periodic re-read
    keys = widget.on_issue_event(Context.background(settings(), process_cache()), instance, payload,
                                 reread=widget.enqueue_refresh)
    log.info("webhook.received event=%s instance=%s snapshots=%d",
             str(payload.get("webhookEvent", ""))[:64], instance.id, len(keys))
    return "", 204

