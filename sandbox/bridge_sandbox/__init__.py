"""Simulators of Jira Server / Data Center and of Asana, for tests, the demo and benchmarks.

They follow ``../shared/reference/`` (the real protocols), never the bridge's convenience:
if the bridge and a simulator disagree, the simulator is checked against the reference first.
"""
