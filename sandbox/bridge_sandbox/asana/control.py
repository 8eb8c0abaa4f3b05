"""``/_sim/...``: drive the simulator from another process (the demo, out-of-process tests).

Not part of Asana. The simulator binds loopback only, so these endpoints carry no auth.

* ``POST /_sim/reset``: back to the seeded world (apps and tokens dropped).
* ``POST /_sim/apps``: register an app ``{client_id, client_secret, redirect_uris, name?,
  bridge_url?, paths?, match_url_pattern?, install_on?}``.
* ``POST /_sim/app-components/config``: change the App Components setup of an app
  (``client_id`` optional: the last registered app).
* ``POST /_sim/clock``: ``{"advance": seconds}`` moves the simulator's clock forward.
* ``POST /_sim/rate-limit``: ``{"per_minute": n}``.
* ``GET /_sim/state``: a summary (apps, tasks, attachments) for debugging.
* ``POST /_sim/app-components/sign``: a signed request for the browser to send (demo page).
* ``POST /_sim/app-components/validate``: check a response the browser received.
* ``POST /_sim/tasks/<gid>/attach-resource``: what Asana does with an
  AttachedResourceResponse: attach ``resource_url`` to the task, connected to the app.
* ``POST /_sim/tasks``: a new task ``{"name", "notes"?, "html_notes"?, "assignee"?,
  "due_on"?, "workspace"?, "projects"?}`` (default: the seeded workspace and project);
  answers 201 ``{"gid", "name"}``.
* ``POST /_sim/tasks/<gid>/attachments``: add an attachment to a task, one of
  ``{"name", "size", "content_type"?, "digest"?}`` (Asana-hosted, its bytes generated when
  downloaded: any size, 1 GB included, never held in memory; ``digest: true`` adds the
  content's ``sha256`` to the answer), ``{"name", "url", "host"}`` (a file on ``gdrive``,
  ``dropbox``, ``onedrive``, ``box``, ``vimeo``, or an ``external`` link), or a multipart
  form with ``file`` (an upload, kept in memory, 100 MB at most). Answers 201 with the
  attachment's ``gid``, ``name``, ``host``, ``size``, ``url``.
* ``DELETE /_sim/attachments/<gid>``: remove an attachment from its task, as a user does in
  Asana: ``GET /api/1.0/attachments/<gid>`` then answers 404, ``?parent=`` lists drop it,
  its widget goes and download URLs already handed out answer 404.
* ``GET /_sim/attachments/<gid>/sha256``: the sha256 of an Asana-hosted attachment's bytes.
* Rule actions (reference §5.4): ``POST /_sim/rules/new`` ``{"project"?}`` gives a fresh
  ``action`` id and the app's ``action_type`` (what the rule builder knows before the form
  opens); ``POST /_sim/rules`` ``{"action", "project", "user", "values", "rule_name"?}``
  records a rule whose on_submit the app accepted; ``GET /_sim/rules``; ``DELETE
  /_sim/rules/<action>``; ``POST /_sim/rules/<action>/run`` ``{"task", "deliveries"?,
  "idempotency_key"?, "retry_backoff"?, "retry_attempts"?}`` fires the rule: run_action
  from the simulator's server side, retried with backoff on one key (``deliveries: 2``
  sends two at once), then the created resources are attached to the task. Answers
  ``{"action", "task", "idempotency_key", "deliveries": [{"status", "body", "outcome",
  "attempts"}], "attached": [gid, ...]}``; 502 when the app's answer breaks the spec or the
  app cannot be reached.
"""

from __future__ import annotations

import requests
from flask import Blueprint, current_app, jsonify, request

from bridge_sandbox.asana import rest, seed, validator
from bridge_sandbox.asana.host import DEFAULT_PATHS, check_response
from bridge_sandbox.asana.state import SimError

bp = Blueprint("asana_control", __name__, url_prefix="/_sim")


def _sim():
    return current_app.sim


@bp.errorhandler(SimError)
def _sim_error(exc: SimError):
    return jsonify(error=exc.message), exc.status


@bp.errorhandler(validator.ResponseInvalid)
def _invalid(exc: validator.ResponseInvalid):
    return jsonify(error=f"The app's answer breaks the spec at {exc.path or '<body>'}: "
                         f"{exc.message}", path=exc.path, message=exc.message), 502


@bp.errorhandler(requests.RequestException)
def _unreachable(exc):
    return jsonify(error=f"The app server could not be reached: {type(exc).__name__}"), 502


@bp.errorhandler(ValueError)
def _value_error(exc: ValueError):
    return jsonify(error=str(exc)), 400


@bp.post("/reset")
def reset():
    _sim().reset()
    return jsonify(ok=True)


@bp.post("/apps")
def register_app():
    body = request.get_json(force=True)
    app = _sim().register_app(
        client_id=str(body["client_id"]), client_secret=body["client_secret"],
        redirect_uris=body.get("redirect_uris", []), name=body.get("name", "Jira bridge"),
        bridge_url=body.get("bridge_url"), paths=body.get("paths"),
        match_url_pattern=body.get("match_url_pattern"), install_on=body.get("install_on"),
    )
    return jsonify(app.public()), 201


@bp.post("/app-components/config")
def configure():
    body = dict(request.get_json(force=True))
    client_id = body.pop("client_id", None)
    app = _sim().configure_components(client_id, **body)
    return jsonify(app.public())


@bp.post("/clock")
def clock():
    body = request.get_json(force=True)
    now = _sim().clock.advance(float(body.get("advance", 0)))
    return jsonify(now=now)


@bp.post("/rate-limit")
def rate_limit():
    _sim().rate_limit_per_minute = int(request.get_json(force=True)["per_minute"])
    return jsonify(per_minute=_sim().rate_limit_per_minute)


@bp.get("/state")
def state():
    sim = _sim()
    return jsonify(
        apps=[a.public() for a in sim.apps.values()],
        tasks=[{"gid": t["gid"], "name": t["name"]} for t in sim.tasks.values()],
        attachments=[{k: a[k] for k in ("gid", "name", "parent", "resource_subtype", "host",
                                         "size", "url", "connected_app")}
                     for a in sim.attachments.values()],
        rules=list(sim.rule_actions.values()),
        rule_runs=sim.rule_runs,
    )


def _context(body: dict) -> dict:
    """Fill in workspace/user/task GIDs the way Asana's client knows them."""
    sim = _sim()
    ctx = {k: v for k, v in body.items() if k not in ("kind", "client_id")}
    task = sim.tasks.get(str(body.get("task") or ""))
    if task is not None:
        ctx.setdefault("workspace", task["workspace"])
        ctx.setdefault("project", task["projects"][0] if task["projects"] else None)
    user = ctx.get("user") or "alice@example.com"
    if "@" in str(user):
        found = sim.user_by_email(user)
        if found is None:
            raise SimError(400, f"unknown user {user}")
        user = found["gid"]
    ctx["user"] = user
    return ctx


@bp.post("/app-components/sign")
def sign():
    body = request.get_json(force=True)
    kind = body.get("kind")
    if kind not in DEFAULT_PATHS or kind == "auth":
        raise SimError(400, f"unknown kind {kind!r}")
    ctx = _context(body)
    if kind == "widget" and "resource_url" not in ctx:
        att = _sim().attachments.get(str(ctx.get("attachment")))
        if att is None:
            raise SimError(404, "attachment not found")
        ctx["resource_url"] = att["url"]
    host = _sim().host_for(body.get("client_id"))
    return jsonify(host.prepare(kind, **ctx).to_dict())


@bp.post("/app-components/validate")
def validate():
    body = request.get_json(force=True)
    try:
        check_response(body["kind"], int(body["status"]), body.get("body"),
                       body.get("content_type", "application/json"))
    except validator.ResponseInvalid as exc:
        return jsonify(ok=False, path=exc.path, message=exc.message)
    return jsonify(ok=True)


@bp.post("/tasks/<gid>/attach-resource")
def attach_resource(gid):
    sim = _sim()
    if gid not in sim.tasks:
        raise SimError(404, "task not found")
    body = request.get_json(force=True)
    try:
        validator.validate("attached", body)
    except validator.ResponseInvalid as exc:  # the caller's input, not an app's answer
        raise SimError(400, str(exc)) from None
    record = sim.attach_resource(gid, body, body.get("client_id"))
    return jsonify(gid=record["gid"], name=record["name"], url=record["url"]), 201


def _attachment_summary(record: dict) -> dict:
    return {"gid": record["gid"], "name": record["name"], "parent": record["parent"],
            "host": record["host"], "size": record["size"], "url": record["url"]}


@bp.post("/tasks")
def add_task():
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise SimError(400, "the body must be a JSON object")
    user = body.get("assignee")
    if user and "@" in str(user):
        found = _sim().user_by_email(user)
        user = found["gid"] if found else user
    gid = _sim().add_task(name=str(body.get("name") or ""),
                          workspace=str(body.get("workspace") or seed.WORKSPACE),
                          projects=body.get("projects"), notes=str(body.get("notes") or ""),
                          html_notes=body.get("html_notes"), assignee=user,
                          due_on=body.get("due_on"))
    return jsonify(gid=gid, name=_sim().tasks[gid]["name"]), 201


@bp.post("/tasks/<gid>/attachments")
def add_attachment(gid):
    sim = _sim()
    if gid not in sim.tasks:
        raise SimError(404, "task not found")
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise SimError(400, "file: Missing input")
        content = upload.read(rest.MAX_UPLOAD + 1)
        if len(content) > rest.MAX_UPLOAD:
            raise SimError(413, "File is too large; the limit is 100 MB")
        record = sim.add_upload(parent=gid, name=upload.filename or "upload", content=content,
                                content_type=upload.mimetype or "application/octet-stream")
        return jsonify(_attachment_summary(record)), 201
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict) or not str(body.get("name") or "").strip():
        raise SimError(400, "name: Missing input")
    if "url" in body or "host" in body:
        host = body.get("host") or "external"
        url = str(body.get("url") or "")
        if host == "external":
            if not url.startswith(("http://", "https://")):
                raise SimError(400, "url must be an absolute http(s) URL")
            record = sim.add_external_attachment(parent=gid, name=body["name"], url=url)
        else:
            record = sim.add_linked_file(parent=gid, name=body["name"], url=url, host=host)
        return jsonify(_attachment_summary(record)), 201
    record = sim.add_generated(parent=gid, name=body["name"], size=body.get("size"),
                               content_type=body.get("content_type")
                               or "application/octet-stream")
    out = _attachment_summary(record)
    if body.get("digest"):
        out["sha256"] = sim.attachment_digest(record["gid"])
    return jsonify(out), 201


@bp.delete("/attachments/<gid>")
def remove_attachment(gid):
    record = _sim().remove_attachment(gid)
    return jsonify(removed=record["gid"], parent=record["parent"])


@bp.get("/attachments/<gid>/sha256")
def attachment_sha256(gid):
    return jsonify(gid=gid, sha256=_sim().attachment_digest(gid))


@bp.post("/rules/new")
def new_rule():
    body = request.get_json(force=True, silent=True) or {}
    draft = _sim().new_rule_action(project=str(body.get("project") or seed.PROJECT),
                                   client_id=body.get("client_id"))
    return jsonify(draft), 201


@bp.post("/rules")
def save_rule():
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict) or not body.get("action") or not body.get("project"):
        raise SimError(400, "action and project are required")
    user = str(body.get("user") or "")
    if "@" in user:
        found = _sim().user_by_email(user)
        user = found["gid"] if found else user
    values = body.get("values") or {}
    if not isinstance(values, dict):
        raise SimError(400, "values must be an object")
    rule = _sim().save_rule(action=str(body["action"]), project=str(body["project"]), user=user,
                            values=values, rule_name=body.get("rule_name"),
                            client_id=body.get("client_id"))
    return jsonify(rule), 201


@bp.get("/rules")
def list_rules():
    project = request.args.get("project")
    rules = [r for r in _sim().rule_actions.values() if not project or r["project"] == project]
    return jsonify(rules=rules)


@bp.delete("/rules/<action>")
def delete_rule(action):
    return jsonify(deleted=_sim().delete_rule(action)["action"])


@bp.post("/rules/<action>/run")
def run_rule(action):
    body = request.get_json(force=True, silent=True) or {}
    host_kw = {}
    for key, cast in (("retry_backoff", float), ("retry_attempts", int)):
        if body.get(key) is not None:
            host_kw[key] = cast(body[key])
    record = _sim().run_rule(action, str(body.get("task") or ""),
                             deliveries=int(body.get("deliveries") or 1),
                             idempotency_key=body.get("idempotency_key"), **host_kw)
    return jsonify(record)
