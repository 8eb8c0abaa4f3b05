"""Creating a Jira issue from an Asana task: the modal form and its submit (Flask-free).

The form (asana-app-components.md §5.2, §6.2): the Jira instance (only when the workspace
has several the user can use), the project (those where the user may create issues), the
issue type (watched: a change loads that type's fields from the create metadata form of
the instance's version, jira-server.md §3.7), summary and description prefilled from the
task, a checkbox to copy the task's files saying how many and how large, then the type's
required fields of supported kinds (``jira_fields``); required fields of other kinds are
named so the user knows to fill them in Jira.

Submit (§5.2: Asana waits 10 s) creates the issue under the user's own token, so Jira's
permissions apply, records the ``IssueLink``, queues the file copies (``attachments``) and
answers the issue as the attached resource. Jira's field errors come back on their fields.
A double submit (second click, retried request) gives the first issue: the submit claims
a row keyed by a hash of who submitted what (``ActionRun``, unique key) before calling
Jira, and records Jira's answer the moment it has it.

Rule actions (``rules``) use the same form builder (``build_form`` with ``kind=RULE``) and
the same creation (``create``: the task's link slot, Jira, the link, the copies); what
differs between the two is data (``FormKind``) and where the values come from.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field

from ..asana import forms
from ..errors import BridgeError
from ..jira.errors import JiraInvalidInput, JiraNeedsReconnect, JiraNotConnected
from ..models import AsanaUser, JiraCredential, JiraInstance
from . import (
    attachments,
    idempotency,
    jira_fields,
    links,
    wikimarkup,
)
from .context import Context
from .jira_fields import JiraField

log = logging.getLogger("bridge.create")

F_INSTANCE, F_PROJECT, F_ISSUETYPE = "instance", "project", "issuetype"
F_SUMMARY, F_DESCRIPTION, F_COPY = "summary", "description", "copy_attachments"
COPY_OPTION = "copy"
SUMMARY_MAX = 255
LONG_NOTES_MARKER = "[… the rest of the task's notes is copied when the issue is created]"
META_TTL = 300.0


class FormRejected(BridgeError):
    """Answer Asana with this form (status 400) so the user sees errors on their fields."""

    status = 400
    code = "form_rejected"

    def __init__(self, form: dict, message: str = "The form has errors."):
        super().__init__(message)
        self.form = form
        self.answer_body = form  # web.errors answers the form itself


# No usable Jira authorization in this workspace: Asana must open the Authentication URL
# (401, see the README).
CONNECT_TO_CREATE = ("Connect your Jira account to create issues: open the app's "
                     "authorization from this task.")


@dataclass
class Urls:
    """Where Asana sends the form's callbacks (absolute, on ``BRIDGE_PUBLIC_URL``)."""

    on_change: str
    on_submit: str
    typeahead: str  # with "{field}" to fill in


# -- who, where ---------------------------------------------------------------------------

def _asana_user(ctx: Context) -> AsanaUser:
    user = ctx.asana_user()
    if user is None:
        raise JiraNotConnected(CONNECT_TO_CREATE)
    return user


def usable_instances(ctx: Context) -> list[JiraInstance]:
    """The workspace's instances on which the user holds an active credential."""
    _asana_user(ctx)
    found = []
    for instance in ctx.instances():
        try:
            ctx.credential(instance)
        except JiraNeedsReconnect:
            continue
        found.append(instance)
    if not found:
        raise JiraNotConnected(CONNECT_TO_CREATE)
    return found


# -- create metadata, cached per authorization (the app's ``ctx.cache.forms``) ----------

def meta_key(credential: JiraCredential) -> tuple:
    """What create metadata read with ``credential`` is remembered under: the
    authorization, not the user. Re-authorizing as another Jira account (who may create
    in other projects) makes a new ``grant_id``, so the old account's projects are not
    shown for ``META_TTL``. The instance's ``created_at`` stays: on SQLite an instance
    added after the last was removed gets its id again (and its credentials theirs)."""
    instance = credential.instance
    return (credential.id, credential.grant_id or "", instance.id, instance.created_at)


def creatable_projects(ctx: Context, jira, cache_key) -> list[dict]:
    """Projects where the user may create issues (``JiraClient.creatable_projects``), at
    most as many as a dropdown holds."""
    return ctx.cache.forms.get(("projects", cache_key), META_TTL,
                      lambda: jira.creatable_projects(limit=forms.DROPDOWN_MAX))


def issue_types(ctx: Context, jira, cache_key, project: str) -> list[dict]:
    def load():
        return [t for t in jira.issue_types(project) if not t.get("subtask")]

    return ctx.cache.forms.get(("types", cache_key, project), META_TTL, load)


def field_metas(ctx: Context, jira, cache_key, project: str, issuetype: str) -> list[dict]:
    return ctx.cache.forms.get(("fields", cache_key, project, issuetype), META_TTL,
                      lambda: jira.create_fields(project, issuetype))


# -- the task's side --------------------------------------------------------------------------

def task_content(ctx: Context) -> dict:
    """Name, notes as wiki markup, and the files of the task (one Asana read each)."""
    asana = ctx.asana(_asana_user(ctx))
    task = asana.task(ctx.task, "name,notes,html_notes,permalink_url")
    files = asana.attachments(ctx.task)
    html = task.get("html_notes")
    wiki = wikimarkup.html_to_wiki(html) if html else wikimarkup.text_to_wiki(task.get("notes"))
    return {"name": task.get("name") or "", "wiki": wiki, "files": files,
            "to_share": shareable(ctx, files), "permalink_url": task.get("permalink_url")}


def _task_content_cached(ctx: Context, user: AsanaUser) -> dict:
    """The task's content while the form is open (each change would read it again)."""
    return ctx.cache.forms.get(("task", ctx.task, user.id), 30.0, lambda: task_content(ctx))


def description_prefill(wiki: str) -> str:
    """The notes as they fit the form (3000 characters); longer ones end with a marker that
    submit replaces with the rest, read again from Asana, so no text is lost."""
    if len(wiki) <= forms.MULTI_LINE_MAX:
        return wiki
    room = forms.MULTI_LINE_MAX - len(LONG_NOTES_MARKER) - 2
    return wiki[:room] + "\n\n" + LONG_NOTES_MARKER


def full_description(submitted: str, wiki: str) -> str:
    if LONG_NOTES_MARKER not in submitted:
        return submitted
    head = submitted.split(LONG_NOTES_MARKER, 1)[0].rstrip("\n")
    room = forms.MULTI_LINE_MAX - len(LONG_NOTES_MARKER) - 2
    return (head + wiki[room:]) if wiki[room:] else head


def copy_label(files: list[dict]) -> str:
    """The copy checkbox's label: whole words and counts that fit Asana's 80 characters
    for an option label (asana-app-components.md §6.2) by construction, up to 9,999
    files of 9999.9 GB and 9,999 links (71 characters), so it is never cut."""
    count, size = attachments.summarize(files)
    links = len(attachments.external_links(files))
    files_part = f"{count} file{'s' if count != 1 else ''} ({attachments.human_size(size)})"
    links_part = f"{links} link{'s' if links != 1 else ''}"
    if count and links:
        return f"Copy {files_part} to Jira; list {links_part} in the description"
    if count:
        return f"Copy the task's {files_part} to Jira"
    return f"List the task's {links_part} in the description"


def shareable(ctx: Context, files: list[dict]) -> list[dict]:
    """The task's attachments that are files: not its Jira issue links (the resource
    Asana attached for a linked issue, or any issue URL of the workspace's Jira)."""
    bases = [i.base_url for i in ctx.instances()]
    return [a for a in files if not links.is_issue_attachment(a, bases)]


def with_links(description: str, files: list[dict]) -> str:
    links = attachments.external_links(files)
    if not links:
        return description
    lines = [f"* {wikimarkup.link(name, url)}" for name, url in links]
    return (description.rstrip() + "\n\n" if description.strip() else "") + \
        "Files linked in Asana:\n" + "\n".join(lines)


# -- the form ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FormKind:
    """What differs between the create form and a rule action's form; everything else is
    one builder (``build_form``) and one creation (``create``)."""

    from_task: bool  # summary, description and the file counts come from the open task
    optional_fields: bool  # every settable field is offered (a rule fixes values once)
    unsupported_title: str


FORM = FormKind(from_task=True, optional_fields=False,
                unsupported_title="Also required; set in Jira:")
RULE = FormKind(from_task=False, optional_fields=True,
                unsupported_title="Required, but not settable from Asana:")
TITLE = "Create a Jira issue"


@dataclass
class Choice:
    instance: JiraInstance | None
    project: str | None
    issuetype: str | None


def _choose(values: dict, instances: list[JiraInstance]) -> Choice:
    instance = instances[0] if len(instances) == 1 else None
    wanted = forms.chosen(values.get(F_INSTANCE))
    if wanted is not None:
        instance = next((i for i in instances if str(i.id) == wanted), instance)
    return Choice(instance, forms.chosen(values.get(F_PROJECT)),
                  forms.chosen(values.get(F_ISSUETYPE)))


def build_form(ctx: Context, urls: Urls, values: dict | None = None,
               errors: dict | None = None, *, kind: FormKind = FORM,
               content: dict | None = None) -> dict:
    """The whole form of ``kind`` for the current ``values`` (``None``: first display,
    prefilled from the task). Errors for fields the form does not show (Jira's own
    messages) land on the issue type."""
    errors = dict(errors or {})
    first = values is None
    values = dict(values or {})
    user = _asana_user(ctx)
    instances = usable_instances(ctx)
    task = ctx.task if kind.from_task else None
    if task:
        limit = ctx.settings.max_issues_per_task
        if first and content is None:
            content = task_content(ctx)

        def attached():
            return (content or _task_content_cached(ctx, user))["files"]

        if not links.has_room(task, limit, attached, actor=str(ctx.user)):
            return full_form(urls, limit)
    choice = _choose(values, instances)
    fields: list[dict] = []
    if len(instances) > 1:
        fields.append(forms.dropdown(
            F_INSTANCE, "Jira", [forms.option(i.id, i.name or i.base_url) for i in instances],
            choice.instance.id if choice.instance else None, required=True, watched=True,
            error=errors.pop(F_INSTANCE, None)))
    jira = types = None
    if choice.instance is not None:
        jira = ctx.jira_for(choice.instance)
        key = meta_key(ctx.credential(choice.instance))
        projects = creatable_projects(ctx, jira, key)
        if choice.project and all(p["key"] != choice.project for p in projects):
            choice.project = None
        if choice.project is None and len(projects) == 1:
            choice.project = projects[0]["key"]
        fields.append(forms.dropdown(
            F_PROJECT, "Project", [forms.option(p["key"], f"{p['name']} ({p['key']})")
                                   for p in projects],
            choice.project, required=True, watched=True,
            error=errors.pop(F_PROJECT, None) or (None if projects else
                                                  "Your Jira account may not create issues "
                                                  "in any project.")))
        if choice.project:
            types = issue_types(ctx, jira, key, choice.project)
            if choice.issuetype and all(str(t["id"]) != str(choice.issuetype) for t in types):
                choice.issuetype = None
            fields.append(forms.dropdown(
                F_ISSUETYPE, "Issue type", [forms.option(t["id"], t["name"]) for t in types],
                choice.issuetype, required=True, watched=True,
                error=errors.pop(F_ISSUETYPE, None)))
    if kind.from_task:
        fields.extend(_task_part(ctx, user, values, errors, first, content))
    else:  # a rule: the task is not known until the rule runs
        fields.append(forms.static_text("from_task", "Summary and description: from the task"))
        fields.append(forms.checkbox(F_COPY, "Attachments",
                                     [forms.option(COPY_OPTION, "Copy the task's files to Jira")],
                                     values.get(F_COPY)))
    ready = bool(choice.instance and choice.project and choice.issuetype)
    if ready:
        metas = field_metas(ctx, jira, meta_key(ctx.credential(choice.instance)),
                            choice.project, choice.issuetype)
        shown, unsupported = jira_fields.form_fields(metas,
                                                     include_optional=kind.optional_fields)
        room = forms.MAX_FIELDS - len(fields) - (2 if unsupported else 0)
        for f in shown[:max(0, room)]:
            url = urls.typeahead.format(field=typeahead_field(choice, f))
            fields.append(jira_fields.to_form(f, values.get(f.form_id), typeahead_url=url,
                                              error=errors.pop(f.id, None)))
        if unsupported:
            names = ", ".join(f.name for f in unsupported)
            fields.append(forms.static_text("unsupported_title", kind.unsupported_title,
                                            style="header"))
            fields.append(forms.static_text("unsupported", names))
    if errors:  # Jira's messages about fields the form does not show
        target = next((f for f in fields if f["id"] == F_ISSUETYPE), fields[0])
        extra = "; ".join(str(v) for v in errors.values())
        target["error"] = (target.get("error", "") + " " + extra).strip()
    return forms.form(TITLE, fields, on_change=urls.on_change,
                      on_submit=urls.on_submit if ready else None)


def _task_part(ctx: Context, user: AsanaUser, values: dict, errors: dict, first: bool,
               content: dict | None) -> list[dict]:
    """Summary, description and the copy checkbox, prefilled from the task."""
    if not ctx.task:
        content = {"name": "", "wiki": "", "to_share": []}
    elif content is None:
        content = task_content(ctx) if first else _task_content_cached(ctx, user)
    if first:
        values[F_SUMMARY] = content["name"][:forms.SINGLE_LINE_MAX]
        values[F_DESCRIPTION] = description_prefill(content["wiki"])
        if attachments.summarize(content["to_share"])[0]:
            values[F_COPY] = [COPY_OPTION]
    part = [forms.single_line(F_SUMMARY, "Summary", values.get(F_SUMMARY) or "",
                              required=True, error=errors.pop(F_SUMMARY, None)),
            forms.multi_line(F_DESCRIPTION, "Description", values.get(F_DESCRIPTION) or "",
                             placeholder="Jira wiki markup",
                             error=errors.pop(F_DESCRIPTION, None))]
    shared = content["to_share"]
    if attachments.summarize(shared)[0] or attachments.external_links(shared):
        part.append(forms.checkbox(F_COPY, "Attachments",
                                   [forms.option(COPY_OPTION, copy_label(shared))],
                                   values.get(F_COPY)))
    return part


def typeahead_field(choice: Choice, f: JiraField) -> str:
    """The ``<field>`` of ``/asana/typeahead/<field>``: ``instance.project.type.fieldId``
    (the path carries the context, since Asana signs only the query it appends)."""
    return f"{choice.instance.id}.{choice.project}.{choice.issuetype}.{f.id}"


def typeahead(ctx: Context, field_ref: str, query: str) -> dict:
    """Items for a user field (Jira's user picker) or a long select (its allowed values)."""
    try:
        instance_id, project, issuetype, field_id = field_ref.split(".", 3)
    except ValueError:
        raise BridgeError("Unknown field.", status=404, code="not_found") from None
    _asana_user(ctx)  # JiraNotConnected (401) for a user the bridge does not know
    instance = next((i for i in usable_instances(ctx) if str(i.id) == instance_id), None)
    if instance is None:
        raise BridgeError("Unknown field.", status=404, code="not_found")
    jira = ctx.jira_for(instance)
    metas = field_metas(ctx, jira, meta_key(ctx.credential(instance)), project, issuetype)
    meta = next((m for m in metas if str(m.get("fieldId")) == field_id), None)
    if meta is None:
        raise BridgeError("Unknown field.", status=404, code="not_found")
    f = jira_fields.classify(meta)
    query = (query or "").strip()
    if f.kind in ("user", "users"):
        if not query:
            return {"items": []}
        users = jira.user_picker(query, max_results=20)
        return {"items": [forms.typeahead_item(u.get("displayName") or u.get("name"),
                                               u.get("name"), u.get("name"))
                          for u in users if u.get("name")][:50]}
    q = query.lower()
    items = [forms.typeahead_item(o["label"], o["id"]) for o in f.allowed
             if not q or q in o["label"].lower()]
    return {"items": items[:50]}


# -- submit -----------------------------------------------------------------------------------

def jira_fields_from(values: dict, metas: list[dict]) -> tuple[dict, dict]:
    """(Jira ``fields`` for the shown Jira fields, errors by Jira field id)."""
    shown, _ = jira_fields.form_fields(metas, include_optional=True)
    out, errors = {}, {}
    for f in shown:
        value = values.get(f.form_id)
        if jira_fields.is_empty(value):
            if f.required and not f.has_default:
                errors[f.id] = f"{f.name} is required."
            continue
        try:
            out[f.id] = jira_fields.to_jira(f, value)
        except jira_fields.FieldValueError as exc:
            errors[f.id] = str(exc)
    return out, errors


def submit_key(ctx: Context, values: dict) -> str:
    raw = json.dumps([str(ctx.workspace), str(ctx.user), str(ctx.task), values],
                     sort_keys=True, default=str)
    return "form:" + hashlib.sha256(raw.encode()).hexdigest()


def submit(ctx: Context, urls: Urls, values: dict, attachment_gid: str | None = None) -> dict:
    """Create the issue once per submitted form; answer ``AttachedResourceResponse``."""
    values = dict(values or {})
    return idempotency.run_once(submit_key(ctx, values),
                                lambda run: _create_from_form(ctx, urls, values,
                                                              attachment_gid, run),
                                reuse_for=600.0)


def _create_from_form(ctx: Context, urls: Urls, values: dict, attachment_gid,
                      run: idempotency.Run) -> dict:
    user = _asana_user(ctx)
    instances = usable_instances(ctx)
    choice = _choose(values, instances)

    def reject(errors: dict) -> FormRejected:
        return FormRejected(build_form(ctx, urls, values, errors))

    if not (choice.instance and choice.project and choice.issuetype):
        raise reject({F_ISSUETYPE: "Choose a project and an issue type."})
    summary = " ".join(str(values.get(F_SUMMARY) or "").split())
    if not summary:
        raise reject({F_SUMMARY: "Enter a summary."})
    if len(summary) > SUMMARY_MAX:
        raise reject({F_SUMMARY: f"Jira takes at most {SUMMARY_MAX} characters."})
    jira = ctx.jira_for(choice.instance)
    metas = field_metas(ctx, jira, meta_key(ctx.credential(choice.instance)),
                        choice.project, choice.issuetype)
    fields, errors = jira_fields_from(values, metas)
    if errors:
        raise reject(errors)
    copy = COPY_OPTION in (values.get(F_COPY) or [])
    description = str(values.get(F_DESCRIPTION) or "")
    files: list[dict] = []
    if copy or LONG_NOTES_MARKER in description:
        content = task_content(ctx)
        files = content["to_share"]
        description = full_description(description, content["wiki"])
    if copy:
        description = with_links(description, files)
    fields = issue_fields(fields, project=choice.project, issuetype=choice.issuetype,
                          summary=summary, description=description)
    new = NewIssue(user=user, instance=choice.instance, jira=jira, fields=fields,
                   summary=summary, task=ctx.task, attachment_gid=attachment_gid,
                   files=files if copy else [], limit=ctx.settings.max_issues_per_task,
                   attached=lambda: task_content(ctx)["files"])
    try:
        return create(new, run)
    except links.TaskFull:
        raise FormRejected(full_form(urls, new.limit), "The task is full.") from None
    except JiraInvalidInput as exc:
        errors = dict(exc.field_errors)
        if exc.messages:
            errors[F_ISSUETYPE] = " ".join(str(m) for m in exc.messages)
        raise reject(errors) from None


@dataclass
class NewIssue:
    """An issue about to be made, by the form or by a rule run (``create``)."""

    user: AsanaUser
    instance: JiraInstance
    jira: object
    fields: dict
    summary: str
    task: str | None
    limit: int
    attached: object  # () -> the task's attachments, read only when the task is full
    attachment_gid: str | None = None
    files: list = field(default_factory=list)


def issue_fields(fixed: dict, *, project: str, issuetype: str, summary: str,
                 description: str) -> dict:
    """Jira's ``fields`` for a new issue: the fixed or typed field values, then the
    choices and the text."""
    fields = dict(fixed)
    fields.update({"project": {"key": project}, "issuetype": {"id": str(issuetype)},
                   "summary": summary})
    if description.strip():
        fields["description"] = description
    return fields


def create(new: NewIssue, run: idempotency.Run) -> dict:
    """Make the issue once per ``run``: claim the task's slot (``links.TaskFull`` when
    there is none), create in Jira (``JiraInvalidInput`` when Jira refuses), link it and
    queue the copies; answer the attached resource.

    A retried run resumes after Jira's answer was recorded, and claims like the first
    attempt (under the run's name, so the claim a failed attempt kept is its own): only
    a link that already exists spares the claim. A resumed run that finds the task full
    raises ``TaskFull`` naming the issue Jira made (``unlinked``)."""
    slot = None
    created = run.steps.get("created")
    if new.task and not (created and links.find(new.task, new.instance, created["id"])):
        try:
            slot = links.claim(new.task, new.limit, new.attached, actor=new.user.gid,
                               owner=f"run-{run.row_id}")
        except links.TaskFull as exc:
            exc.unlinked = created["key"] if created else None
            raise
    try:
        created = run.step("created", lambda: _jira_create(new.jira, new.fields))
        return finish(new.instance, created, new.summary, task=new.task, user=new.user,
                      attachment_gid=new.attachment_gid, files=new.files, slot=slot)
    finally:
        if not run.has("created"):  # once the issue exists, its retry needs the claim
            links.release(slot)


def _jira_create(jira, fields: dict) -> dict:
    made = jira.create_issue(fields)
    return {"id": str(made["id"]), "key": made["key"]}


def finish(instance: JiraInstance, created: dict, summary: str, *, task: str | None,
           user: AsanaUser, attachment_gid=None, files: list[dict],
           slot: links.Slot | None = None) -> dict:
    """Record the link, queue the copies, and answer the attached resource (§6.4)."""
    if task:
        link, _ = links.link(task_gid=task, instance=instance, issue_id=created["id"],
                             issue_key=created["key"], user=user,
                             attachment_gid=attachment_gid, slot=slot)
        if files:
            attachments.plan(link, files)
    return {"resource_name": forms.clip(f"{created['key']}: {summary}", 200),
            "resource_url": f"{instance.base_url}/browse/{created['key']}"}


def full_form(urls: Urls, limit: int) -> dict:
    """The form of a task that has as many issues as allowed: a notice, no submit."""
    return forms.form("Create a Jira issue", [
        forms.static_text("task_full", links.full_heading(limit), style="header"),
        forms.static_text("task_full_help", "Remove one from the task to create another."),
    ], on_change=urls.on_change)
