"""Simulators of Jira Server / Data Center and of Asana, for tests, the demo and benchmarks.

They follow the protocol notes in ``docs/`` (the real protocols, with their sources), never
the bridge's convenience: if the bridge and a simulator disagree, the simulator is checked
against the notes and their sources first.
"""
