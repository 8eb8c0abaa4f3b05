"""Jira create-metadata fields as form fields and back (jira-server.md §3.7, §3.8)."""

import pytest
from bridge_sandbox.asana import validator

from bridge.services import jira_fields
from bridge.services.jira_fields import FieldValueError

C = "com.atlassian.jira.plugin.system.customfieldtypes:"


def meta(field_id, schema, *, required=True, allowed=None, name=None, default=False):
    m = {"fieldId": field_id, "name": name or field_id, "required": required,
         "schema": schema, "hasDefaultValue": default, "operations": ["set"]}
    if allowed is not None:
        m["allowedValues"] = allowed
    return m


OPTIONS = [{"id": "1", "value": "Red"}, {"id": "2", "value": "Blue"}]
KINDS = [
    (meta("customfield_1", {"type": "string", "custom": C + "textfield", "customId": 1}),
     "text", "hello", "hello"),
    (meta("environment", {"type": "string", "system": "environment"}), "textarea",
     "a\nb", "a\nb"),
    (meta("customfield_2", {"type": "number", "custom": C + "float", "customId": 2}),
     "number", "3,5", 3.5),
    (meta("customfield_3", {"type": "option", "custom": C + "select"}, allowed=OPTIONS),
     "select", "2", {"id": "2"}),
    (meta("customfield_4", {"type": "array", "items": "option", "custom": C + "multiselect"},
          allowed=OPTIONS), "multiselect", ["1", "2"], [{"id": "1"}, {"id": "2"}]),
    (meta("priority", {"type": "priority", "system": "priority"},
          allowed=[{"id": "3", "name": "Major"}]), "priority", "3", {"id": "3"}),
    (meta("components", {"type": "array", "items": "component", "system": "components"},
          allowed=[{"id": "10", "name": "API"}]), "components", ["10"], [{"id": "10"}]),
    (meta("fixVersions", {"type": "array", "items": "version", "system": "fixVersions"},
          allowed=[{"id": "20", "name": "1.0"}]), "versions", ["20"], [{"id": "20"}]),
    (meta("labels", {"type": "array", "items": "string", "system": "labels"}), "labels",
     "a, b c", ["a", "b", "c"]),
    (meta("customfield_5", {"type": "user", "custom": C + "userpicker"}), "user",
     {"title": "Bob", "value": "bob"}, {"name": "bob"}),
    (meta("duedate", {"type": "date", "system": "duedate"}), "date",
     "2021-12-31T08:00:00.000Z", "2021-12-31"),
    (meta("customfield_6", {"type": "datetime", "custom": C + "datetime"}), "datetime",
     "2022-02-01T14:48:00.000Z", "2022-02-01T14:48:00.000+0000"),
]


@pytest.mark.parametrize("m, kind, value, jira", KINDS, ids=[k[1] for k in KINDS])
def test_each_supported_kind_round_trips(m, kind, value, jira):
    f = jira_fields.classify(m)
    assert f.kind == kind
    assert jira_fields.to_jira(f, value) == jira
    form_field = jira_fields.to_form(f, None, typeahead_url="https://b.example/asana/t/x")
    validator.validate("form", {"template": "form_metadata_v0",
                                "metadata": {"title": "t", "fields": [form_field]}})
    assert form_field["is_required"] is True


def test_unsupported_required_fields_are_named_and_optional_ones_left_out():
    metas = [
        meta("summary", {"type": "string", "system": "summary"}),
        meta("customfield_7", {"type": "option-with-child", "custom": C + "cascadingselect"},
             name="Region"),
        meta("customfield_8", {"type": "string", "custom": C + "textfield"}, required=False),
        meta("priority", {"type": "priority", "system": "priority"}, default=True,
             allowed=[{"id": "3", "name": "Major"}]),
        meta("customfield_9", {"type": "number"}, name="Estimate"),
    ]
    shown, unsupported = jira_fields.form_fields(metas)
    assert [f.id for f in shown] == ["customfield_9"]
    assert [f.name for f in unsupported] == ["Region"]
    shown, _ = jira_fields.form_fields(metas, include_optional=True)
    assert {f.id for f in shown} == {"customfield_9", "customfield_8", "priority"}


def test_large_option_lists_use_a_typeahead_and_big_multi_selects_are_unsupported():
    many = [{"id": str(i), "value": f"Option {i}"} for i in range(60)]
    single = jira_fields.classify(meta("customfield_1", {"type": "option"}, allowed=many))
    assert single.needs_typeahead
    form_field = jira_fields.to_form(single, None, typeahead_url="https://b.example/t")
    assert form_field["type"] == "typeahead"
    multi = jira_fields.classify(meta("customfield_2", {"type": "array", "items": "option"},
                                      allowed=many))
    assert multi.kind is None


@pytest.mark.parametrize("kind_index, bad", [
    (2, "abc"), (10, "next week"), (11, "soon"),
    # a time whose UTC form leaves the calendar: astimezone raised OverflowError (a 500)
    (11, "0001-01-01T00:00:00+01:00"), (11, "9999-12-31T23:59:00-01:00"),
])
def test_bad_values_are_refused_with_a_sentence(kind_index, bad):
    f = jira_fields.classify(KINDS[kind_index][0])
    with pytest.raises(FieldValueError) as refused:
        jira_fields.to_jira(f, bad)
    assert str(refused.value).startswith("Enter a")
