"""``asana-jira-bridge sandbox asana``: run the Asana simulator standalone (loopback only)."""

from __future__ import annotations

import click

from ..liveserver import is_loopback, serve_or_explain


@click.command("asana")
@click.option("--port", default=8091, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Loopback address to bind; other addresses are refused.")
@click.option("--bridge-url", default=None,
              help="Base URL of the bridge's App Components server, e.g. http://127.0.0.1:8080.")
@click.option("--client-id", default="1200000000000000", show_default=True,
              help="OAuth client id of the registered app.")
@click.option("--client-secret", default=None,
              help="OAuth client secret; it also signs App Components requests.")
@click.option("--redirect-uri", "redirect_uris", multiple=True,
              help="Registered OAuth redirect URL (repeatable). "
                   "Default: <bridge-url>/oauth/asana/callback.")
def command(port, host, bridge_url, client_id, client_secret, redirect_uris):
    """Run the Asana simulator (OAuth, REST, App Components host, demo task page)."""
    from bridge_sandbox.asana.app import create_asana_simulator

    if not is_loopback(host):
        raise click.BadParameter("the simulator binds loopback addresses only", param_hint="--host")
    apps = []
    if client_secret:
        if not redirect_uris and bridge_url:
            redirect_uris = (bridge_url.rstrip("/") + "/oauth/asana/callback",)
        apps.append({"client_id": client_id, "client_secret": client_secret,
                     "redirect_uris": list(redirect_uris), "bridge_url": bridge_url})
    base = f"http://{host}:{port}"
    app = create_asana_simulator(base_url=base, apps=apps)
    click.echo(f"Asana simulator on {base}")
    for task in app.sim.tasks.values():
        click.echo(f"  demo task page: {base}/demo/task/{task['gid']}  ({task['name']})")
    click.echo("  users: alice@example.com / alice-password, bob@example.com / bob-password")
    # The tests' and the demo's server: connections kept alive as Asana's API keeps them.
    serve_or_explain(app, host, port)
