"""The pycontribs ``jira`` client against the simulator (reference §1.7, §3.7, §3.9)."""

from __future__ import annotations

import io

import pytest
from jira import JIRA, JIRAError


@pytest.fixture
def client10(jira_factory):
    jira = jira_factory("10.3.19")
    return JIRA(jira.url, basic_auth=("alice", "alice"), max_retries=0)


def test_search_create_and_attach_with_the_jira_package(client10):
    issues = client10.search_issues('project = EX AND text ~ "release" ORDER BY updated DESC')
    assert [i.key for i in issues] == ["EX-2", "EX-3"]
    created = client10.create_issue(project="EX", summary="Made by jira package",
                                    issuetype={"id": "3"}, description="wiki *text*")
    assert created.key == "EX-4"
    att = client10.add_attachment(created.key, io.BytesIO(b"data"), filename="notes.txt")
    assert att.filename == "notes.txt" and att.size == 4
    assert client10.attachment(att.id).get() == b"data"


def test_paginated_createmeta_through_the_jira_package(client10):
    types = client10.project_issue_types("EX")
    assert sorted(t.name for t in types) == ["Bug", "Sub-task", "Task"]
    fields = client10.project_issue_fields("EX", "3")
    assert "summary" in [f.fieldId for f in fields]


def test_jira_package_sees_jql_errors(client10):
    with pytest.raises(JIRAError) as err:
        client10.search_issues("key = NOPE-1")
    assert err.value.status_code == 400
    assert "An issue with key 'NOPE-1' does not exist for field 'key'." in err.value.text
