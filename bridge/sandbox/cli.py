"""``asana-jira-bridge sandbox ...``: run a simulator standalone.

Each simulator package exposes ``command`` (a click command) in its own ``cli`` module;
they are imported lazily so the bridge's CLI starts without loading simulator code.
"""

from __future__ import annotations

import importlib

import click

_SIMULATORS = {
    "jira": "bridge.sandbox.jira.cli",
    "asana": "bridge.sandbox.asana.cli",
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
    """Run the simulators that ship with the bridge (for demos and tests)."""
