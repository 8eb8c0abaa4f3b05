"""What is shipped: the bridge's wheel carries no simulator (issue 15.5); the sandbox is a
distribution of its own whose simulators share one factory interface."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_both_simulators_offer_one_factory_interface():
    from bridge_sandbox import asana, jira

    for package, factory in ((jira, jira.create_jira_simulator),
                             (asana, asana.create_asana_simulator)):
        app = factory(base_url="http://127.0.0.1:9")
        state = package.get_state(app)
        assert callable(state.reset), package.__name__
        assert {"create_" + package.__name__.rsplit(".", 1)[-1] + "_simulator",
                "get_state"} <= set(package.__all__)


def _wheel(source: Path, out: Path) -> list[str]:
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                             "-w", str(out), str(source)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def _copy(names: list[str], dest: Path) -> Path:
    for name in names:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


@pytest.mark.e2e
def test_the_production_wheel_carries_no_simulator(tmp_path):
    """``pip wheel .`` at the root, from a copy (the build writes beside its sources)."""
    source = _copy(["pyproject.toml", "setup.cfg", "README.md", "bridge", "sandbox"],
                   tmp_path / "src")
    names = _wheel(source, tmp_path / "wheel")
    modules = [n for n in names if n.endswith(".py")]
    assert any(n == "bridge/cli.py" for n in modules)
    assert all(n.startswith(("bridge/", "asana_jira_bridge-")) for n in names), \
        sorted(n for n in names if not n.startswith("bridge/"))
    assert not [n for n in names if "sandbox" in n or "simulat" in n.lower()]


@pytest.mark.e2e
def test_the_sandbox_wheel_carries_its_schemas_and_pages(tmp_path):
    source = _copy(["sandbox"], tmp_path / "src")
    names = _wheel(source / "sandbox", tmp_path / "wheel")
    for needed in ("bridge_sandbox/asana/schemas/app_components.json",
                   "bridge_sandbox/asana/schemas/rest.json",
                   "bridge_sandbox/asana/static/task.js",
                   "bridge_sandbox/asana/templates/task.html"):
        assert needed in names
