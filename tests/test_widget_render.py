"""What the widget shows, checked against Asana's spec (the simulator's validator, which
picks each field's schema by its type): Jira payloads full and sparse, nulls included."""

from __future__ import annotations

import pytest
from bridge_sandbox.asana import validator

from bridge.asana import components as ui
from bridge.services import widget

BASE = "https://jira.example.com/jira"


def _issue(**fields) -> dict:
    full = {
        "summary": "Fix login on the second try",
        "status": {"self": f"{BASE}/rest/api/2/status/3", "description": "",
                   "iconUrl": f"{BASE}/images/icons/statuses/inprogress.png",
                   "name": "In Progress", "id": "3",
                   "statusCategory": {"self": f"{BASE}/rest/api/2/statuscategory/4", "id": 4,
                                      "key": "indeterminate", "colorName": "yellow",
                                      "name": "In Progress"}},
        "priority": {"self": f"{BASE}/rest/api/2/priority/4", "name": "Minor", "id": "4",
                     "iconUrl": f"{BASE}/images/icons/priorities/minor.svg"},
        "assignee": {"name": "fred", "key": "JIRAUSER10100", "displayName": "Fred F. User",
                     "avatarUrls": {"48x48": f"{BASE}/secure/useravatar?size=large",
                                    "24x24": f"{BASE}/secure/useravatar?size=small"},
                     "active": True},
        "issuetype": {"name": "Bug", "iconUrl": f"{BASE}/images/icons/issuetypes/bug.svg",
                      "subtask": False},
        "duedate": "2026-12-24",
        "comment": {"comments": [], "maxResults": 3, "total": 3, "startAt": 0},
        "updated": "2019-11-08T11:54:11.127+0100",
    }
    full.update(fields)
    return {"id": "10002", "key": "EX-12", "self": f"{BASE}/rest/api/2/issue/10002",
            "fields": full}


def _fields(body: dict) -> dict:
    return {f["name"]: f for f in body["metadata"]["fields"]}


def test_a_full_issue_shows_everything_the_issue_asks_for():
    body = widget.render(widget.summarize(_issue()), "Example Jira")
    validator.validate("widget", body, strict=True)
    meta = body["metadata"]
    assert meta["title"] == "EX-12 Fix login on the second try"
    assert meta["subtitle"] == "Example Jira · Bug"
    assert meta["subicon_url"].endswith("bug.svg")
    assert meta["num_comments"] == 3
    fields = _fields(body)
    assert fields["Status"] == {"type": "pill", "name": "Status", "text": "In Progress",
                                "color": "yellow"}
    assert fields["Priority"]["type"] == "text_with_icon"
    assert fields["Priority"]["text"] == "Minor"
    assert fields["Priority"]["icon_url"].endswith("minor.svg")
    assert fields["Assignee"]["text"] == "Fred F. User"
    assert fields["Assignee"]["icon_url"].endswith("size=small")
    assert fields["Due date"] == {"type": "datetime_with_icon", "name": "Due date",
                                  "datetime": "2026-12-24T00:00:00.000Z"}
    # Jira's +0100 offset becomes UTC with a Z.
    assert meta["footer"] == {"footer_type": "updated",
                              "last_updated_at": "2019-11-08T10:54:11.127Z"}


def test_nulls_everywhere_still_make_a_valid_widget():
    issue = _issue(priority=None, assignee=None, duedate=None, comment=None, summary=None,
                   issuetype=None, updated=None)
    body = widget.render(widget.summarize(issue), "Jira")
    validator.validate("widget", body, strict=True)
    fields = _fields(body)
    assert "Priority" not in fields and "Due date" not in fields
    assert fields["Assignee"]["text"] == "Unassigned"
    assert "icon_url" not in fields["Assignee"]
    assert "num_comments" not in body["metadata"]
    assert body["metadata"]["title"] == "EX-12"
    assert body["metadata"]["footer"]["footer_type"] == "custom_text"


def test_fields_left_out_by_jira_are_not_errors():
    body = widget.render(widget.summarize({"key": "EX-1", "fields": {}}), "Jira")
    validator.validate("widget", body, strict=True)
    assert _fields(body)["Status"]["color"] == "cool-gray"


@pytest.mark.parametrize("category, color", [
    ({"key": "new", "colorName": "blue-gray", "id": 2}, "blue"),
    ({"key": "indeterminate", "colorName": "yellow", "id": 4}, "yellow"),
    ({"key": "done", "colorName": "green", "id": 3}, "green"),
    ({"key": "undefined", "colorName": "medium-gray", "id": 1}, "cool-gray"),
    ({"colorName": "green"}, "green"),  # an older Jira without the key
    ({"id": "2"}, "blue"),
    (None, "cool-gray"),
    ({"key": "something-new", "colorName": "purple"}, "cool-gray"),
])
def test_status_category_picks_one_of_four_asana_colours(category, color):
    assert widget.status_color(category) == color
    assert color in ui.PILL_COLORS


def test_long_texts_are_clipped_to_asanas_limits():
    long = "word " * 100
    issue = _issue(summary=long, priority={"name": "P" * 80, "iconUrl": "/relative.png"},
                   status={"name": "S" * 80, "statusCategory": {"key": "done"}})
    body = widget.render(widget.summarize(issue), "J" * 300)
    validator.validate("widget", body, strict=True)
    meta = body["metadata"]
    assert len(meta["title"]) == ui.TITLE_MAX and meta["title"].endswith("…")
    fields = _fields(body)
    assert len(fields["Status"]["text"]) == ui.FIELD_TEXT_MAX
    assert len(fields["Priority"]["text"]) == ui.FIELD_TEXT_MAX
    assert "icon_url" not in fields["Priority"]  # relative: Asana could not load it


def test_missing_issue_and_notices_are_valid_widgets():
    missing = widget.render({"key": "EX-9", "missing": True}, "Jira")
    validator.validate("widget", missing, strict=True)
    assert "deleted" in missing["metadata"]["footer"]["text"]
    placeholder = widget.render({"key": "EX-9", "placeholder": True}, "Jira",
                                notice="Jira cannot be reached right now.")
    validator.validate("widget", placeholder, strict=True)
    noticed = widget.render(widget.summarize(_issue()), "Jira",
                            notice="Alice must reconnect Jira.")
    validator.validate("widget", noticed, strict=True)
    assert noticed["metadata"]["footer"] == {"footer_type": "custom_text",
                                             "text": "Alice must reconnect Jira."}


def test_iso_utc_accepts_jira_and_iso_forms():
    assert ui.iso_utc("2019-11-08T11:54:11.127+0000") == "2019-11-08T11:54:11.127Z"
    assert ui.iso_utc("2019-11-08T11:54:11Z") == "2019-11-08T11:54:11.000Z"
    assert ui.iso_utc("2026-01-31") == "2026-01-31T00:00:00.000Z"
    assert ui.iso_utc("not a date") is None
    assert ui.iso_utc("0999-06-01T00:00:00.000+0000") == "0999-06-01T00:00:00.000Z"
    with pytest.raises(ValueError):
        ui.pill("Status", "x", "brown")


@pytest.mark.parametrize("updated", ["0001-01-01T00:30:00.000+0100",
                                     "9999-12-31T23:30:00.000-0100"])
def test_a_time_whose_utc_form_leaves_the_calendar_is_no_time_not_a_crash(updated):
    # astimezone raised OverflowError: one odd ``updated`` from Jira was a 500 for every
    # viewer of the issue's widget.
    assert ui.iso_utc(updated) is None
    body = widget.render(widget.summarize(_issue(updated=updated), BASE), "Jira")
    validator.validate("widget", body)
    assert body["metadata"]["footer"]["text"] == "Jira did not say when this issue last changed."
