"""A small JQL subset: enough for what the bridge sends (reference jira-server.md §3.4).

Supported: ``key|issuekey|id = X``, ``key|issuekey in (A, B)``, ``project = X`` /
``project in (...)``, ``text|summary|description ~ "..."``, ``status = X``,
``assignee = name|currentUser()`` / ``assignee is EMPTY``, joined with ``AND`` / ``OR``
(AND binds tighter; parentheses allowed), and ``ORDER BY field [ASC|DESC], ...``.
Strings are bare words or single/double quoted with backslash escapes.

Errors raise :class:`JqlError` carrying Jira's wording, e.g.
``An issue with key 'ABC-1' does not exist for field 'key'.``  The full-text match is a
case-insensitive "every term occurs" test — Jira's Lucene stemming is not modelled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEY_RE = re.compile(r"^[A-Z][A-Z0-9_]+-[1-9][0-9]*$", re.IGNORECASE)
_OPERATORS = ("!=", "<=", ">=", "!~", "=", "~", "<", ">")
_KEY_FIELDS = ("key", "issuekey", "id")
_TEXT_FIELDS = ("text", "summary", "description")
_ORDER_FIELDS = ("updated", "created", "key", "priority", "summary", "status")


class JqlError(ValueError):
    pass


@dataclass
class Token:
    kind: str  # word | string | op | lparen | rparen | comma | eof
    value: str
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "\"'":
            quote, j, buf = ch, i + 1, []
            while j < len(text) and text[j] != quote:
                if text[j] == "\\" and j + 1 < len(text):
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= len(text):
                raise JqlError(f"Error in the JQL Query: The quoted string '{text[i + 1:]}' "
                               f"has not been completed. (line 1, character {i + 1})")
            tokens.append(Token("string", "".join(buf), i))
            i = j + 1
            continue
        if ch == "(":
            tokens.append(Token("lparen", ch, i))
            i += 1
            continue
        if ch == ")":
            tokens.append(Token("rparen", ch, i))
            i += 1
            continue
        if ch == ",":
            tokens.append(Token("comma", ch, i))
            i += 1
            continue
        op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
        if op:
            tokens.append(Token("op", op, i))
            i += len(op)
            continue
        j = i
        while j < len(text) and not text[j].isspace() and text[j] not in "\"'(),=!~<>":
            j += 1
        if j == i:
            raise JqlError(f"Error in the JQL Query: The character '{ch}' is a reserved JQL "
                           f"character. You must enclose it in a string or use the escape "
                           f"'\\u{ord(ch):04x}' instead. (line 1, character {i + 1})")
        word = text[i:j]
        if text.startswith("()", j):  # function call like currentUser()
            word += "()"
            j += 2
        tokens.append(Token("word", word, i))
        i = j
    tokens.append(Token("eof", "", len(text)))
    return tokens


@dataclass
class Clause:
    field: str
    op: str
    values: list[str]


@dataclass
class Query:
    where: object  # Clause | ("and"|"or", [children]) | None
    order_by: list[tuple[str, bool]]  # (field, descending)


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def is_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "word" and tok.value.lower() in words

    def fail(self, expected: str) -> JqlError:
        tok = self.peek()
        got = tok.value if tok.kind != "eof" else "the end of the query"
        shown = f"'{got}'" if tok.kind != "eof" else got
        return JqlError(f"Error in the JQL Query: Expecting {expected} but got {shown}. "
                        f"(line 1, character {tok.pos + 1})")

    def parse(self) -> Query:
        where = None
        if not self.is_word("order") and self.peek().kind != "eof":
            where = self.parse_or()
        order = []
        if self.is_word("order"):
            self.take()
            if not self.is_word("by"):
                raise self.fail("'by'")
            self.take()
            while True:
                tok = self.take()
                if tok.kind not in ("word", "string"):
                    self.i -= 1
                    raise self.fail("a field name")
                name = tok.value.lower()
                if name not in _ORDER_FIELDS:
                    raise JqlError(f"Field '{tok.value}' does not exist or you do not have "
                                   f"permission to view it.")
                desc = False
                if self.is_word("asc", "desc"):
                    desc = self.take().value.lower() == "desc"
                order.append((name, desc))
                if self.peek().kind != "comma":
                    break
                self.take()
        if self.peek().kind != "eof":
            raise self.fail("either 'OR' or 'AND'" if where else "a field name")
        return Query(where=where, order_by=order)

    def parse_or(self):
        parts = [self.parse_and()]
        while self.is_word("or"):
            self.take()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def parse_and(self):
        parts = [self.parse_term()]
        while self.is_word("and"):
            self.take()
            parts.append(self.parse_term())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def parse_term(self):
        if self.peek().kind == "lparen":
            self.take()
            inner = self.parse_or()
            if self.peek().kind != "rparen":
                raise self.fail("')'")
            self.take()
            return inner
        tok = self.take()
        if tok.kind not in ("word", "string"):
            self.i -= 1
            raise self.fail("a field name")
        field = tok.value.lower()
        if self.is_word("in"):
            self.take()
            return Clause(field, "in", self.parse_list())
        if self.is_word("is"):
            self.take()
            negate = False
            if self.is_word("not"):
                self.take()
                negate = True
            if not self.is_word("empty", "null"):
                raise self.fail("'EMPTY'")
            self.take()
            return Clause(field, "is not" if negate else "is", [])
        op_tok = self.take()
        if op_tok.kind != "op":
            self.i -= 1
            raise self.fail("operator")
        return Clause(field, op_tok.value, [self.parse_value()])

    def parse_value(self) -> str:
        tok = self.take()
        if tok.kind not in ("word", "string"):
            self.i -= 1
            raise self.fail("either a value, 'EMPTY' or a function")
        return tok.value

    def parse_list(self) -> list[str]:
        if self.peek().kind != "lparen":
            raise self.fail("'('")
        self.take()
        values = [self.parse_value()]
        while self.peek().kind == "comma":
            self.take()
            values.append(self.parse_value())
        if self.peek().kind != "rparen":
            raise self.fail("')'")
        self.take()
        return values


def parse(text: str) -> Query:
    return _Parser(text or "").parse()


class Evaluator:
    """Matches issues against a parsed query for one user (visibility applied by caller)."""

    def __init__(self, state, user: str | None):
        self.state = state
        self.user = user

    def validate(self, node) -> None:
        """Raise the errors Jira reports before running a query (unknown keys/projects)."""
        if node is None:
            return
        if isinstance(node, tuple):
            for child in node[1]:
                self.validate(child)
            return
        f = node.field
        if f in _KEY_FIELDS:
            if node.op not in ("=", "!=", "in"):
                raise JqlError(f"The operator '{node.op}' is not supported by the '{f}' field.")
            for v in node.values:
                if f == "id" and v.isdigit():
                    continue
                if not KEY_RE.match(v):
                    raise JqlError(f"The issue key '{v}' for field '{f}' is invalid.")
                issue = self.state.find_issue(v)
                if issue is None or not self.state.can_browse(self.user, issue["key"]):
                    raise JqlError(f"An issue with key '{v}' does not exist for field '{f}'.")
        elif f == "project":
            for v in node.values:
                p = self.state.find_project(v, by_name=True)
                if p is None or not self.state.can_browse(self.user, p["key"]):
                    raise JqlError(f"The value '{v}' does not exist for the field 'project'.")
        elif f in _TEXT_FIELDS:
            if node.op not in ("~", "!~"):
                raise JqlError(f"The operator '{node.op}' is not supported by the '{f}' "
                               f"field.")
        elif f in ("status", "assignee", "reporter", "priority", "issuetype", "type",
                   "labels", "updated", "created"):
            pass
        else:
            raise JqlError(f"Field '{f}' does not exist or you do not have permission to "
                           f"view it.")

    def matches(self, node, issue: dict) -> bool:
        if node is None:
            return True
        if isinstance(node, tuple):
            kind, children = node
            results = (self.matches(c, issue) for c in children)
            return all(results) if kind == "and" else any(results)
        value = self._field_value(node.field, issue)
        if node.op == "is":
            return value in (None, "", [])
        if node.op == "is not":
            return value not in (None, "", [])
        if node.op in ("~", "!~"):
            found = _text_match(node.values[0], value)
            return found if node.op == "~" else not found
        wanted = {self._normalise(node.field, v) for v in node.values}
        have = value if isinstance(value, list) else [value]
        hit = any(h is not None and str(h).lower() in wanted for h in have)
        if node.op in ("=", "in"):
            return hit
        if node.op == "!=":
            return not hit
        raise JqlError(f"The operator '{node.op}' is not supported by the '{node.field}' field.")

    def _normalise(self, field: str, value: str) -> str:
        if field == "assignee" and value.lower() == "currentuser()":
            return (self.user or "").lower()
        if field == "project":
            p = self.state.find_project(value, by_name=True)
            return p["key"].lower() if p else value.lower()
        if field in ("key", "issuekey", "id"):
            i = self.state.find_issue(value)
            return i["key"].lower() if i else value.lower()
        return value.lower()

    def _field_value(self, field: str, issue: dict):
        st = self.state
        if field in _KEY_FIELDS:
            return issue["key"]
        if field == "project":
            return issue["project"]
        if field == "text":
            return " ".join([issue["summary"], issue.get("description") or ""])
        if field == "status":
            return [issue["status"], st.statuses[issue["status"]]["name"]]
        if field == "priority":
            return [issue["priority"], st.priorities[issue["priority"]]["name"]]
        if field in ("issuetype", "type"):
            return [issue["issuetype"], st.issue_types[issue["issuetype"]]["name"]]
        return issue.get(field)


def _text_match(query: str, haystack) -> bool:
    text = (haystack or "").lower()
    phrase = query.strip()
    if len(phrase) >= 2 and phrase[0] == phrase[-1] == '"':
        return phrase[1:-1].lower() in text
    terms = [t.strip("*?").lower() for t in re.split(r"\s+", phrase) if t.strip("*?")]
    return bool(terms) and all(t in text for t in terms)


def sort_issues(issues: list[dict], order_by: list[tuple[str, bool]], state) -> list[dict]:
    from bridge_sandbox.jira.state import parse_jira_time

    def key_for(field):
        def k(issue):
            if field in ("updated", "created"):
                return parse_jira_time(issue[field])
            if field == "key":
                proj, num = issue["key"].split("-")
                return (proj, int(num))
            if field == "priority":
                return int(issue["priority"])
            if field == "status":
                return state.statuses[issue["status"]]["name"]
            return issue.get(field) or ""
        return k

    result = list(issues)
    if not order_by:  # Jira's default ordering is by key descending-ish; use key DESC
        order_by = [("key", True)]
    for field, desc in reversed(order_by):
        result.sort(key=key_for(field), reverse=desc)
    return result
