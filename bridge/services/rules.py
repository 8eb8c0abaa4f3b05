"""Rule actions: "create a Jira issue" when an Asana rule fires (asana-app-components.md §5.4).

- The configuration form (rule builder, from the user's browser): instance, project, issue
  type, optional fixed values for the type's fields, and whether to copy the task's files.
  Saving needs the rule creator's usable Jira credential (401 otherwise: Asana opens the
  Authentication URL) and stores the configuration under Asana's action id; saving again
  replaces it.
- Run action (from Asana's servers, retried with the same ``idempotency_key``, §4.2):
  creates the issue for the target task with the *rule creator's* credential, records the
  link, queues the copies and answers ``resources_created``. ``idempotency.run_once`` makes
  it happen once even when two retries arrive together on two workers. An action the
  bridge does not know (deleted) answers 410; a creator who must reconnect gets an
  ``error`` saying so, and an audit event.
"""

from __future__ import annotations

import logging

from ..asana.errors import AsanaNeedsReconnect
from ..errors import BridgeError
from ..jira.errors import JiraInvalidInput, JiraNeedsReconnect
from ..models import AsanaUser, AsanaWorkspace, JiraInstance, RuleAction, audit
from ..timeutil import utcnow
from . import (
    asana_users,
    create_issue,
    idempotency,
    instances,
    jira_as_user,
    jira_fields,
    links,
    wikimarkup,
)
from .create_issue import (
    COPY_OPTION,
    F_COPY,
    F_INSTANCE,
    F_ISSUETYPE,
    F_PROJECT,
    Caller,
    FormRejected,
    Urls,
)

log = logging.getLogger("bridge.rules")


class ActionGone(BridgeError):
    status = 410
    code = "gone"
    public_message = "This rule action no longer exists."


def build_form(caller: Caller, urls: Urls, values: dict | None = None,
               errors: dict | None = None, *, action_gid: str | None = None) -> dict:
    """The rule action's configuration form (saved values when editing an action)."""
    from ..asana import forms

    errors = dict(errors or {})
    if values is None and action_gid:
        saved = RuleAction.get_or_none(RuleAction.action_gid == str(action_gid))
        values = dict((saved.config or {}).get("values") or {}) if saved else {}
    values = dict(values or {})
    user = create_issue._asana_user(caller)
    instances = create_issue.usable_instances(caller)
    choice = create_issue._choose(caller, values, instances)
    fields: list[dict] = []
    if len(instances) > 1:
        fields.append(forms.dropdown(
            F_INSTANCE, "Jira", [forms.option(i.id, i.name or i.base_url) for i in instances],
            choice.instance.id if choice.instance else None, required=True, watched=True,
            error=errors.pop(F_INSTANCE, None)))
    jira = None
    if choice.instance is not None:
        jira = jira_as_user.jira_for(user, choice.instance)
        key = (user.id, choice.instance.id)
        projects = create_issue.creatable_projects(jira, key)
        if choice.project and all(p["key"] != choice.project for p in projects):
            choice.project = None
        fields.append(forms.dropdown(
            F_PROJECT, "Jira project", [forms.option(p["key"], f"{p['name']} ({p['key']})")
                                        for p in projects],
            choice.project, required=True, watched=True, error=errors.pop(F_PROJECT, None)))
        if choice.project:
            types = create_issue.issue_types(jira, key, choice.project)
            if choice.issuetype and all(str(t["id"]) != str(choice.issuetype) for t in types):
                choice.issuetype = None
            fields.append(forms.dropdown(
                F_ISSUETYPE, "Issue type", [forms.option(t["id"], t["name"]) for t in types],
                choice.issuetype, required=True, watched=True,
                error=errors.pop(F_ISSUETYPE, None)))
    fields.append(forms.static_text("from_task", "Summary and description: from the task"))
    fields.append(forms.checkbox(F_COPY, "Attachments",
                                 [forms.option(COPY_OPTION, "Copy the task's files to Jira")],
                                 values.get(F_COPY)))
    ready = bool(choice.instance and choice.project and choice.issuetype)
    if ready:
        metas = create_issue.field_metas(jira, (user.id, choice.instance.id),
                                         choice.project, choice.issuetype)
        shown, unsupported = jira_fields.form_fields(metas, include_optional=True)
        room = forms.MAX_FIELDS - len(fields) - (2 if unsupported else 0)
        for f in shown[:max(0, room)]:
            url = urls.typeahead.format(field=create_issue.typeahead_field(choice, f))
            fields.append(jira_fields.to_form(f, values.get(f.form_id), typeahead_url=url,
                                              error=errors.pop(f.id, None)))
        if unsupported:
            fields.append(forms.static_text("unsupported_title",
                                            "Required, but not settable from Asana:",
                                            style="header"))
            fields.append(forms.static_text("unsupported",
                                            ", ".join(f.name for f in unsupported)))
    if errors:
        target = next((f for f in fields if f["id"] == F_PROJECT), fields[0])
        target["error"] = (target.get("error", "") + " " +
                           "; ".join(str(v) for v in errors.values())).strip()
    return forms.form("Create a Jira issue", fields, on_change=urls.on_change,
                      on_submit=urls.on_submit if ready else None)


def save(caller: Caller, urls: Urls, values: dict, *, action_gid: str,
         asana_project: str | None, rule_name: str | None = None) -> None:
    """Store the configuration under ``action_gid`` (FormRejected with field errors)."""
    values = dict(values or {})
    if not action_gid:
        raise BridgeError("The request names no rule action.", status=400, code="bad_request")
    user = create_issue._asana_user(caller)
    instances = create_issue.usable_instances(caller)  # JiraNotConnected → 401
    choice = create_issue._choose(caller, values, instances)
    if not (choice.instance and choice.project and choice.issuetype):
        raise FormRejected(build_form(caller, urls, values,
                                      {F_ISSUETYPE: "Choose a project and an issue type."}))
    jira = jira_as_user.jira_for(user, choice.instance)
    metas = create_issue.field_metas(jira, (user.id, choice.instance.id), choice.project,
                                     choice.issuetype)
    fixed, errors = create_issue.jira_fields_from(caller, values, metas)
    if errors:
        raise FormRejected(build_form(caller, urls, values, errors))
    workspace = AsanaWorkspace.get_or_none(AsanaWorkspace.gid == str(caller.workspace))
    config = {"instance_id": choice.instance.id, "project": choice.project,
              "issuetype": str(choice.issuetype), "fields": fixed,
              "copy": COPY_OPTION in (values.get(F_COPY) or []), "values": values,
              "rule_name": rule_name or ""}
    saved = RuleAction.get_or_none(RuleAction.action_gid == str(action_gid))
    if saved is None:
        try:
            RuleAction.create(action_gid=str(action_gid), workspace=workspace,
                              project_gid=str(asana_project or ""), config=config, creator=user)
        except Exception:  # a concurrent first save: the update below replaces it
            saved = RuleAction.get(RuleAction.action_gid == str(action_gid))
    if saved is not None:
        (RuleAction.update(config=config, creator=user, project_gid=str(asana_project or ""),
                           workspace=workspace)
         .where(RuleAction.id == saved.id).execute())
    audit("rule.saved", actor=str(caller.user), target=str(action_gid),
          instance=choice.instance.base_url, project=choice.project)


def run(*, action_gid: str, idempotency_key: str, target_task: str, settings) -> dict:
    """Run the action for ``target_task`` once per ``idempotency_key`` (``RanActionResponse``).

    Raises ``ActionGone`` (410) for an unknown action; a Jira or Asana outage propagates
    (500: Asana retries, and the retry resumes after whatever was recorded)."""
    action = RuleAction.get_or_none(RuleAction.action_gid == str(action_gid))
    if action is None:
        raise ActionGone()
    if not idempotency_key:
        raise BridgeError("The request has no idempotency_key.", status=400, code="bad_request")
    return idempotency.run_once(f"rule:{action_gid}:{idempotency_key}",
                                lambda r: _run(action, str(target_task), settings, r),
                                action=action, wait=9.0, fingerprint=str(target_task))


def _error(text: str) -> dict:
    return {"action_result": "ok", "error": text}


def _run(action: RuleAction, task: str, settings, run: idempotency.Run) -> dict:
    config = action.config or {}
    creator: AsanaUser | None = action.creator
    instance = JiraInstance.get_or_none(JiraInstance.id == config.get("instance_id"))
    if creator is None or instance is None:
        return _error("This rule's Jira connection was removed; edit the rule to choose "
                      "again.")
    try:
        jira = jira_as_user.jira_for(creator, instance)
    except JiraNeedsReconnect:
        return _reconnect(action, creator, instance)
    try:
        asana = asana_users.client_for(creator, settings)
        content = asana.task(task, "name,notes,html_notes")
        files = asana.attachments(task) if config.get("copy") else []
        files = [a for a in files if not links.is_issue_attachment(
            a, [i.base_url for i in instances.for_workspace(action.workspace.gid)])]
    except AsanaNeedsReconnect:
        audit("rule.creator_reconnect", actor=creator.gid, target=action.action_gid,
              outcome="asana")
        return _error("The rule's creator must sign in to the Jira app again in Asana "
                      "before this rule can create issues.")
    html = content.get("html_notes")
    description = wikimarkup.html_to_wiki(html) if html else wikimarkup.text_to_wiki(
        content.get("notes"))
    if files:
        description = create_issue.with_links(description, files)
    summary = " ".join(str(content.get("name") or "").split())[:create_issue.SUMMARY_MAX] \
        or "Task from Asana"
    fields = dict(config.get("fields") or {})
    fields.update({"project": {"key": config["project"]},
                   "issuetype": {"id": str(config["issuetype"])}, "summary": summary})
    if description.strip():
        fields["description"] = description

    def create():
        try:
            made = jira.create_issue(fields)
        except JiraInvalidInput as exc:
            detail = "; ".join([*(f"{k}: {v}" for k, v in exc.field_errors.items()),
                                *map(str, exc.messages)])
            raise _Refused(detail) from None
        return {"id": str(made["id"]), "key": made["key"]}

    limit = settings.max_issues_per_task
    slot = None
    if not run.has("created"):
        try:  # the per-task limit holds for rules too, claimed before Jira is asked
            slot = links.claim(task, limit, lambda: asana.attachments(task),
                               actor=creator.gid)
        except links.TaskFull:
            log.info("rule.task_full action=%s", action.action_gid)
            return _error(f"This task already has {links.TaskFull(limit).limit_words}, the "
                          "most the bridge allows: the rule created no issue.")
    try:
        try:
            created = run.step("created", create)
        except _Refused as exc:
            log.info("rule.refused action=%s", action.action_gid)
            return _error(f"Jira refused the new issue ({exc}). Edit the rule's fixed "
                          "values.")
        except JiraNeedsReconnect:
            return _reconnect(action, creator, instance)
        resource = create_issue.finish(instance, created, summary, task=task, user=creator,
                                       files=files, slot=slot)
    finally:
        links.release(slot)
    audit("rule.ran", actor=creator.gid, target=action.action_gid, issue=created["key"])
    return {"action_result": "resources_created", "resources_created": [resource]}


class _Refused(Exception):
    pass


def _reconnect(action: RuleAction, creator: AsanaUser, instance: JiraInstance) -> dict:
    audit("rule.creator_reconnect", actor=creator.gid, target=action.action_gid,
          outcome="jira", instance=instance.base_url, at=utcnow().isoformat())
    return _error(f"{creator.name or 'The rule creator'} must connect their Jira account "
                  "again (open the Jira app in Asana) before this rule can create issues.")
