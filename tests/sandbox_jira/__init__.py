"""Tests of the Jira Server / Data Center simulator (bridge_sandbox.jira)."""
