"""What the front page says: is this bridge configured, and what should happen next?

A newcomer who opens the bridge's root URL (or an API client that asks it) learns what
the bridge is, whether the three things it needs exist (an Asana app, an admin, at least
one Jira instance), and the next step. Nothing here is secret: counts and yes/no only,
never an email, a Jira URL, a client id or the setup token itself (only where the admin
finds it). Flask-free so the CLI could print the same.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .. import __version__
from ..config import Config
from ..models import JiraInstance
from . import admins

ASANA_DEVELOPER_CONSOLE = "https://app.asana.com/0/my-apps"
ASANA_APP_COMPONENTS_DOCS = "https://developers.asana.com/docs/app-components"

WHAT = ("A self-hosted bridge between Asana and Jira Server / Data Center: Asana users see "
        "Jira issues on their tasks (a widget), link and create them, and run rule actions; "
        "every Jira call runs under the user's own Jira account.")


@dataclass(frozen=True)
class Step:
    """One thing to do next; ``link`` is a path on this bridge or an external URL."""

    key: str
    text: str
    link: str | None = None
    link_text: str | None = None


@dataclass(frozen=True)
class Overview:
    version: str
    what: str
    asana_app: bool
    admin: bool
    setup_token_pending: bool
    instances: int
    instances_verified: int
    instances_by_auth: dict[str, int]
    configured: bool
    next_steps: list[Step] = field(default_factory=list)
    docs: list[Step] = field(default_factory=list)

    def as_json(self) -> dict:
        body = asdict(self)
        body["next_steps"] = [_step_json(s) for s in self.next_steps]
        body["docs"] = [_step_json(s) for s in self.docs]
        return body


def _step_json(step: Step) -> dict:
    return {k: v for k, v in asdict(step).items() if v is not None}


def overview(settings: Config) -> Overview:
    """The bridge's state as the front page tells it (reads the database)."""
    asana_app = settings.app_components_enabled  # config requires secret and public URL
    has_admin = admins.admins_exist(settings.admins)
    token_pending = not has_admin and (settings.instance_path / "setup_token").exists()
    by_auth: dict[str, int] = {}
    verified = 0
    for instance in JiraInstance.select(JiraInstance.auth_mode, JiraInstance.verified_at):
        by_auth[instance.auth_mode] = by_auth.get(instance.auth_mode, 0) + 1
        verified += instance.verified_at is not None
    count = sum(by_auth.values())

    steps: list[Step] = []
    if not asana_app:
        steps.append(Step(
            "asana_app",
            "Create an Asana app in Asana's developer console (OAuth redirect URL "
            "<BRIDGE_PUBLIC_URL>/oauth/asana/callback), then give the bridge "
            "BRIDGE_PUBLIC_URL, BRIDGE_ASANA_CLIENT_ID and BRIDGE_ASANA_CLIENT_SECRET and "
            "restart it. To try everything first without an Asana app: scripts/run demo.",
            ASANA_DEVELOPER_CONSOLE, "Asana developer console"))
    if not has_admin:
        if token_pending:
            text = ("Claim the bridge: sign in with Asana on a setup page below and enter the "
                    "one-time setup token that 'asana-jira-bridge serve' printed when it "
                    "started (also in the file setup_token in the bridge's instance folder; "
                    "'asana-jira-bridge admins setup-token' makes a fresh one). Or name the "
                    "admins in BRIDGE_ADMINS.")
        else:
            text = ("Name the bridge's admins: their Asana emails in BRIDGE_ADMINS, or "
                    "'asana-jira-bridge admins add EMAIL'. Without one, 'serve' prints a "
                    "one-time setup token at start.")
        steps.append(Step("admin", text))
    if count == 0:
        steps.append(Step(
            "jira_oauth1",
            "Connect a Jira 7.x to 8.21 with an application link (OAuth 1.0a).",
            "/jira/connect", "Connect Jira (application link)"))
        steps.append(Step(
            "jira_oauth2",
            "Connect a Jira 8.22 or later with an incoming link (OAuth 2.0).",
            "/setup", "Connect Jira (OAuth 2.0)"))
    if asana_app and has_admin and count:
        steps.append(Step(
            "users",
            "Install the Asana app on a project. Each user connects their own Jira account "
            "from the app on a task (the Authentication URL, /asana/auth). Run "
            "'asana-jira-bridge doctor' when something does not work."))
        steps.append(Step("more_jira", "Connect another Jira.", "/jira/connect",
                          "Connect another Jira"))

    docs = [
        Step("admin_guide", "The admin guide: README.md in the bridge's source, sections "
             "'Connecting Jira (for Jira admins)' and 'Troubleshooting'."),
        Step("asana_docs", "Asana's App Components documentation.",
             ASANA_APP_COMPONENTS_DOCS, "Asana App Components"),
        Step("health", "Readiness of this bridge (database reachable, migrated and "
             "writable; queue worker).", "/readyz", "/readyz"),
    ]
    return Overview(version=__version__, what=WHAT, asana_app=asana_app, admin=has_admin,
                    setup_token_pending=token_pending, instances=count,
                    instances_verified=verified, instances_by_auth=by_auth,
                    configured=asana_app and has_admin and count > 0,
                    next_steps=steps, docs=docs)
