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

The form and the creation are the create form's (``create_issue.build_form`` with
``kind=RULE``, ``create_issue.create``); this module adds saving and running.
"""

from __future__ import annotations

import logging

from ..asana.errors import AsanaNeedsReconnect
from ..errors import BridgeError
from ..jira.errors import JiraInvalidInput, JiraNeedsReconnect
from ..models import AsanaUser, AsanaWorkspace, JiraInstance, RuleAction, audit
from ..timeutil import utcnow
from . import (
    create_issue,
    idempotency,
    links,
    wikimarkup,
)
from .context import Context
from .create_issue import (
    COPY_OPTION,
    F_COPY,
    F_ISSUETYPE,
    FormRejected,
    Urls,
)

log = logging.getLogger("bridge.rules")


class ActionGone(BridgeError):
    status = 410
    code = "gone"
    public_message = "This rule action no longer exists."


def build_form(ctx: Context, urls: Urls, values: dict | None = None,
               errors: dict | None = None, *, action_gid: str | None = None) -> dict:
    """The rule action's configuration form (saved values when editing an action): the
    create form's builder, of the ``RULE`` kind."""
    if values is None and action_gid:
        saved = RuleAction.get_or_none(RuleAction.action_gid == str(action_gid))
        values = dict((saved.config or {}).get("values") or {}) if saved else {}
    return create_issue.build_form(ctx, urls, dict(values or {}), errors,
                                   kind=create_issue.RULE)


def save(ctx: Context, urls: Urls, values: dict, *, action_gid: str,
         asana_project: str | None, rule_name: str | None = None) -> None:
    """Store the configuration under ``action_gid`` (FormRejected with field errors)."""
    values = dict(values or {})
    if not action_gid:
        raise BridgeError("The request names no rule action.", status=400, code="bad_request")
    user = create_issue._asana_user(ctx)
    instances = create_issue.usable_instances(ctx)  # JiraNotConnected → 401
    choice = create_issue._choose(values, instances)
    if not (choice.instance and choice.project and choice.issuetype):
        raise FormRejected(build_form(ctx, urls, values,
                                      {F_ISSUETYPE: "Choose a project and an issue type."}))
    jira = ctx.jira_for(choice.instance)
    metas = create_issue.field_metas(ctx, jira,
                                     create_issue.meta_key(ctx.credential(choice.instance)),
                                     choice.project, choice.issuetype)
    fixed, errors = create_issue.jira_fields_from(values, metas)
    if errors:
        raise FormRejected(build_form(ctx, urls, values, errors))
    workspace = AsanaWorkspace.get_or_none(AsanaWorkspace.gid == str(ctx.workspace))
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
    audit("rule.saved", actor=str(ctx.user), target=str(action_gid),
          instance=choice.instance.base_url, project=choice.project)


def run(ctx: Context, *, action_gid: str, idempotency_key: str, target_task: str) -> dict:
    """Run the action for ``target_task`` once per ``idempotency_key`` (``RanActionResponse``).

    Raises ``ActionGone`` (410) for an unknown action; a Jira or Asana outage propagates
    (500: Asana retries, and the retry resumes after whatever was recorded)."""
    action = RuleAction.get_or_none(RuleAction.action_gid == str(action_gid))
    if action is None:
        raise ActionGone()
    if not idempotency_key:
        raise BridgeError("The request has no idempotency_key.", status=400, code="bad_request")
    return idempotency.run_once(f"rule:{action_gid}:{idempotency_key}",
                                lambda r: _run(ctx, action, str(target_task), r),
                                action=action, wait=9.0, fingerprint=str(target_task))


def _error(text: str) -> dict:
    return {"action_result": "ok", "error": text}


def _run(ctx: Context, action: RuleAction, task: str, run: idempotency.Run) -> dict:
    config = action.config or {}
    creator: AsanaUser | None = action.creator
    instance = JiraInstance.get_or_none(JiraInstance.id == config.get("instance_id"))
    if creator is None or instance is None:
        return _error("This rule's Jira connection was removed; edit the rule to choose "
                      "again.")
    try:
        jira = ctx.jira_for(instance, user=creator)
    except JiraNeedsReconnect:
        return _reconnect(action, creator, instance)
    try:
        asana = ctx.asana(creator)
        content = asana.task(task, "name,notes,html_notes")
        files = (create_issue.shareable(ctx, asana.attachments(task)) if config.get("copy")
                 else [])
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
    fields = create_issue.issue_fields(config.get("fields") or {}, project=config["project"],
                                       issuetype=config["issuetype"], summary=summary,
                                       description=description)
    new = create_issue.NewIssue(user=creator, instance=instance, jira=jira, fields=fields,
                                summary=summary, task=task, files=files,
                                limit=ctx.settings.max_issues_per_task,
                                attached=lambda: asana.attachments(task))
    try:
        resource = create_issue.create(new, run)
    except links.TaskFull as exc:
        log.info("rule.task_full action=%s", action.action_gid)
        if exc.unlinked:  # an earlier attempt of this run made it; the task filled since
            return _error(f"This task already has {exc.limit_words}, the most the bridge "
                          f"allows: the rule's issue {exc.unlinked} was created in Jira "
                          "but is not linked to the task.")
        return _error(f"This task already has {exc.limit_words}, the most the bridge "
                      "allows: the rule created no issue.")
    except JiraInvalidInput as exc:
        log.info("rule.refused action=%s", action.action_gid)
        detail = "; ".join([*(f"{k}: {v}" for k, v in exc.field_errors.items()),
                            *map(str, exc.messages)])
        return _error(f"Jira refused the new issue ({detail}). Edit the rule's fixed values.")
    except JiraNeedsReconnect:
        return _reconnect(action, creator, instance)
    audit("rule.ran", actor=creator.gid, target=action.action_gid,
          issue=resource["resource_url"].rsplit("/", 1)[-1])
    return {"action_result": "resources_created", "resources_created": [resource]}


def _reconnect(action: RuleAction, creator: AsanaUser, instance: JiraInstance) -> dict:
    audit("rule.creator_reconnect", actor=creator.gid, target=action.action_gid,
          outcome="jira", instance=instance.base_url, at=utcnow().isoformat())
    return _error(f"{creator.name or 'The rule creator'} must connect their Jira account "
                  "again (open the Jira app in Asana) before this rule can create issues.")
