"""A small form-filling browser over ``requests``, for driving real OAuth pages over HTTP.

It follows redirects across the bridge and the simulators like a browser, keeps cookies,
and submits HTML forms the way a user would (hidden fields as served, the clicked button's
name and value, the first option of each select unless told otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import requests


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[Form] = []
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        if not self.forms:
            return
        form = self.forms[-1]
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind == "submit":
                if a.get("name"):
                    form.buttons.append((a["name"], a.get("value", "")))
            elif a.get("name"):
                form.fields.setdefault(a["name"], a.get("value", ""))
        elif tag == "button" and a.get("name"):
            form.buttons.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select:
            if self._select not in form.fields or "selected" in a:
                form.fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class Browser:
    def __init__(self):
        self.session = requests.Session()
        self.session.trust_env = False

    def get(self, url: str, **kwargs) -> requests.Response:
        return self.session.get(url, timeout=15, **kwargs)

    def submit(self, page: requests.Response, *, action: str | None = None,
               button: str | None = None, button_value: str | None = None,
               **values) -> requests.Response:
        """Submit the page's form (the one whose action contains ``action``, if given;
        otherwise the only form that is not the bridge's sign-out button)."""
        forms = [f for f in forms_of(page.text) if "/admin/signout" not in f.action]
        if action is not None:
            forms = [f for f in forms if action in f.action]
        assert len(forms) == 1, f"{len(forms)} matching forms on {page.url}:\n{page.text[:800]}"
        form = forms[0]
        data = dict(form.fields)
        data.update({k: v for k, v in values.items() if v is not None})
        if button is not None:
            chosen = [b for b in form.buttons if b[0] == button
                      and (button_value is None or b[1] == button_value)]
            assert chosen, f"no button {button}={button_value} in {form.buttons}"
            data[chosen[0][0]] = chosen[0][1]
        target = urljoin(page.url, form.action or page.url)
        if form.method == "post":
            return self.session.post(target, data=data, timeout=15)
        return self.session.get(target, params=data, timeout=15)
