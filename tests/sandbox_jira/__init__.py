"""Tests of the Jira Server / Data Center simulator (bridge.sandbox.jira)."""
