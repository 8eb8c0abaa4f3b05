"""Jira Server / Data Center simulator (project issue #3).

An in-memory Flask app that behaves like the Jira features the bridge depends on, as
described in ``docs/jira-server.md``: OAuth 1.0a and OAuth 2.0 providers,
application links, a REST v2 subset, webhooks, rate limiting and fault injection.
Use :func:`create_jira_simulator` to build one.
"""

from bridge_sandbox.jira.app import create_jira_simulator, get_state

__all__ = ["create_jira_simulator", "get_state"]
