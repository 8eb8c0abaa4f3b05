"""Wiki markup injection (issue 16 §6): every Jira wiki metacharacter, fed through every
Asana string that reaches a new issue (task name, notes, linked files' names and URLs),
ends up as text, never as markup: over real HTTP, the form submitted as Asana does, the
description read back from the Jira simulator."""

from __future__ import annotations

import re

import pytest
from bridge_sandbox.asana.host import AppComponentsHost
from bridge_sandbox.asana.seed import ALICE, WORKSPACE

from .conftest import ASANA_CLIENT_SECRET, jira_state
from .helpers import authorize_user, oauth2_instance

pytestmark = pytest.mark.e2e
META = ["[", "]", "|", "!", "{", "}", "*", "_", "^", "~", "+", "-", "?", "#", "\\", "\n"]
ATTACK = ("https://ok.example/a]!https://tracker.example/pixel.png![Reset your password|"
          "https://evil.example/login")
# A link line as the bridge writes it: an escaped label and an encoded URL, or the URL.
_LINK = re.compile(r"^\* \[(?:(?:\\.|[^\[\]|\\!{}\n])*\|)?[^\s\[\]|!{}\\]+\]$")


def _markup_free(text: str) -> list[str]:
    """Characters Jira would read as structure (links, images, macros, tables) that are
    not escaped, and lines that would start a list, a heading or a quote."""
    found = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "[]|!{}":
            found.append(f"{ch!r} at {i}: {text[max(0, i - 20):i + 20]!r}")
        if ch == "?" and text[i + 1:i + 2] == "?":
            found.append(f"'??' at {i}")
        i += 1
    for line in text.split("\n"):
        if re.match(r"^\s*([#*-]|h[1-6]\.|bq\.)", line):
            found.append(f"line starts with markup: {line!r}")
    return found


def test_every_metacharacter_in_every_field_stays_text(bridge, asana, jira_factory):
    jira = jira_factory("10.3.0")
    oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    sim = asana.app.sim
    name = "Name " + " ".join(f"{c}x{c}" for c in META if c != "\n")
    notes = "\n".join(f"{c} start {c}x{c} {c}{c}y{c}{c} end{c}" for c in META)
    task = sim.add_task(name=name, notes=notes)
    for c in META:
        sim.add_linked_file(parent=task, name=f"{c}file{c}name{c}.pdf",
                            url=f"https://files.example/{c}a{c}b?q={c}#f{c}", host="gdrive")
    sim.add_linked_file(parent=task, name=ATTACK, url=ATTACK, host="dropbox")
    sim.add_linked_file(parent=task, name="plain", url=ATTACK, host="box")

    host = AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET)
    form = host.form_metadata(workspace=WORKSPACE, task=task, user=ALICE)
    assert form.status == 200, form.body
    values = {f["id"]: f.get("value") for f in form.body["metadata"]["fields"]
              if f["type"] != "static_text"}
    assert values["copy_attachments"] is None  # linked files only: nothing to copy
    values.update(project="EX", issuetype="3", copy_attachments=["copy"])
    made = host.form_submit(workspace=WORKSPACE, task=task, user=ALICE, values=values)
    assert made.status == 200, made.body

    issue = jira_state(jira).issues[made.body["resource_url"].rsplit("/", 1)[1]]
    assert issue["summary"] == " ".join(name.split())  # a summary is plain text in Jira
    notes_part, _, links_part = issue["description"].partition("\n\nFiles linked in Asana:\n")
    assert _markup_free(notes_part) == []
    for c in META:  # the text survives, escaped
        if c not in "\n\\":
            assert f"x\\{c}" in notes_part or f"x{c}" in notes_part
    lines = links_part.split("\n")
    assert len(lines) == len(META) + 2
    for line in lines:
        assert _LINK.match(line), line
    assert "|https://evil.example" not in issue["description"]
    assert "pixel.png!" not in issue["description"]
