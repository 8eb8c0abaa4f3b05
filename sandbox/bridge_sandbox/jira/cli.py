"""``asana-jira-bridge sandbox jira``: run the Jira simulator standalone (loopback only)."""

from __future__ import annotations

import click

from ..liveserver import is_loopback, serve_or_explain


@click.command("jira")
@click.option("--port", default=8090, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Loopback address to bind; anything else is refused.")
@click.option("--jira-version", "version", default="8.20.0", show_default=True,
              help="Jira version to imitate (e.g. 7.13.5, 8.20.0, 8.22.0, 9.12.0, 10.3.19).")
@click.option("--base-url", default=None,
              help="Jira's configured Base URL if it differs from http://HOST:PORT "
                   "(reproduces proxy mismatches: OAuth 1.0a then answers signature_invalid).")
@click.option("--fixture", default=None, help="Fixture JSON file (default: bundled default.json).")
def command(port: int, host: str, version: str, base_url: str | None, fixture: str | None):
    """Run the Jira Server / Data Center simulator."""
    from bridge_sandbox.jira.app import create_jira_simulator

    if not is_loopback(host):
        raise click.BadParameter("the simulator only binds loopback addresses", param_hint="--host")
    base = base_url or f"http://{f'[{host}]' if ':' in host else host}:{port}"
    app = create_jira_simulator(version=version, base_url=base, fixture=fixture)
    click.echo(f"Jira simulator {version} on http://{host}:{port} (base URL {base}); "
               f"users admin/admin, alice/alice, bob/bob")
    # The tests' and the demo's server: one Date header, the simulated clock's (werkzeug's
    # own would add the real time as a second one and hide a skew set through /_sim/clock
    # from doctor), and connections kept alive as Jira's Tomcat keeps them.
    serve_or_explain(app, host, port)
