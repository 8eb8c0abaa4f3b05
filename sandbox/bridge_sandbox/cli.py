"""The sandbox's commands: ``demo`` and ``sandbox jira|asana``.

They join ``asana-jira-bridge`` through the ``asana_jira_bridge.commands`` entry point
group (declared in ``sandbox/pyproject.toml``), so the bridge itself never imports the
sandbox, and a production install without it simply has no ``demo``. Each simulator
exposes ``command`` in its own ``cli`` module, imported lazily.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import click

_SIMULATORS = {
    "jira": "bridge_sandbox.jira.cli",
    "asana": "bridge_sandbox.asana.cli",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(_SIMULATORS)

    def get_command(self, ctx, name):
        if name not in _SIMULATORS:
            return None
        module = importlib.import_module(_SIMULATORS[name])
        return module.command


@click.group(cls=_LazyGroup)
def sandbox():
    """Run the Jira or the Asana simulator on its own (for demos and tests)."""


@click.command()
@click.option("--jira-version", default="8.20.0", show_default=True,
              help="Version the Jira simulator plays (8.22+ connects with OAuth 2.0).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Bridge port (the simulators take the next two; 0 = any free ports).")
@click.option("--instance-path", type=click.Path(file_okay=False, path_type=Path),
              default=Path("instance") / "demo", show_default=True,
              help="Folder for the demo's own database and key.")
def demo(jira_version, port, instance_path):
    """Run the bridge wired to the Asana and Jira simulators, on loopback, and print the
    URL of the demo task page. Ctrl-C or SIGTERM stops all three."""
    import logging
    import signal
    import threading

    from bridge import logs

    try:
        from . import demo as sandbox_demo
        from .asana import validator  # noqa: F401  (needs jsonschema)
    except ModuleNotFoundError as exc:
        raise click.ClickException(
            f"the demo needs the '{exc.name}' package: install the sandbox, "
            "pip install -e ./sandbox (scripts/bootstrap does)") from None

    # Signals first: a SIGTERM while starting stops the demo as soon as it is up, rather
    # than killing it halfway with the ports of the servers already started.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    logs.configure("info", "text")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log per request
    ports = (port, port + 1, port + 2) if port else (0, 0, 0)
    try:
        running = sandbox_demo.start(instance_path, jira_version=jira_version,
                                     bridge_port=ports[0], asana_port=ports[1],
                                     jira_port=ports[2], say=lambda line: click.echo(line))
    except OSError as exc:
        raise click.ClickException(
            f"cannot start the demo: {exc.strerror or exc} (ports {ports[0]}-{ports[2]}; "
            "try --port 0 for any free ports)") from None
    except sandbox_demo.NotReady as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        "\nReady. Open the demo task page in a browser:\n\n"
        f"    {running.task_url}\n\n"
        "There: Connect (the popup signs you in to Asana, then Jira), link an issue, create "
        "one, add a rule and run it. Then change the linked issue's status in Jira and "
        "reload the task: the widget follows within a second. For EX-2:\n\n"
        f"    curl -X POST {running.jira.url}/_sim/issues/EX-2 "
        "-H 'Content-Type: application/json' -d '{\"status\": \"Done\"}'\n\n"
        f"A linked issue links back to its task (Remote links at {running.jira.url}"
        "/_sim/issues). To see Jira's status in an Asana field of the task, turn it on for "
        f"the project at {running.bridge.url}/fields (as alice, the project's admin).\n\n"
        "Ctrl-C stops the demo.")
    # Wake up often: the kernel may deliver SIGTERM to any thread (a server's), and then
    # only a main thread that runs now and then notices it; an untimed wait would sleep
    # through it (the "SIGTERM does nothing" of the first demo).
    while not stop.wait(0.2):
        pass
    click.echo("Stopping the demo...")
    running.stop()
    click.echo("Demo stopped.")
    # Everything is stopped and closed; skip the interpreter's finalisation, which takes
    # about a second here (freeing the simulators' specs and validators) and is what a
    # supervisor's stop timeout would otherwise wait for.
    import os
    import sys

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
