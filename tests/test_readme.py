"""The README is part of the contract: its settings table and set-up commands stay true."""

import re
from pathlib import Path

from bridge.config import SETTINGS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented_in_the_readme():
    table = {m.group(1) for m in re.finditer(r"^\|\s*`(BRIDGE_[A-Z0-9_]+)`", README, re.M)}
    missing = sorted(s.env for s in SETTINGS if s.env not in table)
    assert not missing, f"settings missing from README's table: {missing}"
    stale = sorted(table - {s.env for s in SETTINGS})
    assert not stale, f"README documents settings the code does not have: {stale}"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", README, re.S)
    assert blocks, "README has no command block"
    commands = [line for line in blocks[0].splitlines() if line and not line.startswith("#")]
    assert commands[:2] == ["scripts/run", "scripts/test"]
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()
