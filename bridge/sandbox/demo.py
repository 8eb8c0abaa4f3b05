"""``asana-jira-bridge demo``: the bridge wired to the simulators, on one machine.

Starts the Asana simulator, a Jira simulator and the bridge, each on a loopback port;
registers the bridge as an Asana app (OAuth redirect, App Components, installed on the
seeded project); connects the Jira simulator to the seeded workspace (an application link
before 8.22, an incoming OAuth 2.0 link from 8.22); and returns the URLs to open. State
lives in its own instance folder, apart from a real bridge's.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from .liveserver import LiveServer

ASANA_CLIENT_ID = "1209000000000001"


@dataclass
class Demo:
    bridge: LiveServer
    asana: LiveServer
    jira: LiveServer
    task_url: str
    instance_path: Path

    def stop(self) -> None:
        for server in (self.bridge, self.asana, self.jira):
            server.stop()


def start(instance_path: Path, *, jira_version: str = "8.20.0", bridge_port: int = 0,
          asana_port: int = 0, jira_port: int = 0) -> Demo:
    from .. import create_app, migrations
    from ..services import instances
    from .asana import create_asana_simulator, seed
    from .jira import create_jira_simulator, get_state

    asana = LiveServer(port=asana_port)
    jira = LiveServer(port=jira_port)
    bridge = LiveServer(port=bridge_port)
    client_secret = secrets.token_urlsafe(24)

    asana.app = create_asana_simulator(base_url=asana.url)
    asana.app.sim.register_app(
        client_id=ASANA_CLIENT_ID, client_secret=client_secret, name="Jira (demo bridge)",
        redirect_uris=[bridge.url + "/oauth/asana/callback"], bridge_url=bridge.url,
        install_on=[seed.PROJECT])
    jira.app = create_jira_simulator(version=jira_version, base_url=jira.url)

    # The simulators start empty, so the demo's database starts empty too.
    instance_path.mkdir(parents=True, exist_ok=True)
    for leftover in instance_path.glob("bridge.sqlite3*"):
        leftover.unlink()
    app = create_app({
        "INSTANCE_PATH": str(instance_path),
        "PUBLIC_URL": bridge.url,
        "ASANA_BASE_URL": asana.url,
        "ASANA_CLIENT_ID": ASANA_CLIENT_ID,
        "ASANA_CLIENT_SECRET": client_secret,
        "ADMINS": "alice@example.com",
    })
    with app.app_context():
        db = app.extensions["bridge.db"]
        migrations.migrate(db)
        asana.start()
        jira.start()
        found = instances.probe(jira.url)
        if found.supports_oauth2:
            client = get_state(jira.app).add_oauth2_client(
                "Asana bridge (demo)", bridge.url + "/oauth/jira2/callback")
            instances.save_oauth2_instance(seed.WORKSPACE, found, client.client_id,
                                           client.client_secret, workspace_name="Example Org")
        else:
            instance = instances.create_oauth1_instance(seed.WORKSPACE, found,
                                                        workspace_name="Example Org")
            get_state(jira.app).add_consumer(instance.consumer_key, "Asana",
                                             instance.public_key,
                                             callback=bridge.url + "/oauth/jira1/callback")
        db.close()
    bridge.app = app
    bridge.start()
    return Demo(bridge=bridge, asana=asana, jira=jira, instance_path=instance_path,
                task_url=f"{asana.url}/demo/task/{seed.TASK_RICH}")
