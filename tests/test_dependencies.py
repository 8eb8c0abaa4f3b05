"""Dependency floors and the audit CI runs (issue 11 §13).

The audit must check what is really installed: a vulnerable version in the environment
fails it, a declared package that is missing fails it (a check that found nothing checked
nothing), and setup.cfg's floors keep pip from resolving any version an advisory names.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _audit_module():
    path = ROOT / "scripts" / "audit-deps"
    loader = importlib.machinery.SourceFileLoader("audit_deps", str(path))
    spec = importlib.util.spec_from_loader("audit_deps", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


audit_deps = _audit_module()


def test_the_installed_environment_passes_the_audit():
    """No installed version is affected. (Whether every declared package is installed is
    checked by scripts/audit-deps in CI, after the bootstrap: a developer's older venv may
    lack a package added since.)"""
    findings = audit_deps.audit(audit_deps.installed(), audit_deps.load_advisories(), [])
    assert findings == []


def test_a_vulnerable_installed_version_fails_the_audit():
    versions = dict(audit_deps.installed())
    versions["requests"] = "2.32.3"  # the .netrc leak (CVE-2024-47081)
    versions["gunicorn"] = "22.0.0"
    findings = audit_deps.audit(versions, audit_deps.load_advisories(), [])
    assert any("CVE-2024-47081" in f for f in findings)
    assert any("CVE-2024-6827" in f for f in findings)


def test_a_declared_package_that_is_not_installed_fails_the_audit():
    required = [r for r in audit_deps.declared() if r.name in ("requests", "flask")]
    versions = {"flask": "3.1.3"}
    findings = audit_deps.audit(versions, [], required)
    assert findings == ["requests: declared in setup.cfg but not installed, so not checked"]


def test_every_advisory_range_is_parsed_and_the_list_checks_installed_packages():
    advisories = audit_deps.load_advisories()
    installed = audit_deps.installed()
    for advisory in advisories:
        audit_deps.affects(advisory, "0.0.1")  # a malformed range raises here
    checked = {canonicalize_name(a["package"]) for a in advisories} & set(installed)
    assert {"requests", "gunicorn", "werkzeug", "urllib3", "flask"} <= checked


def test_setup_cfg_floors_exclude_every_known_advisory():
    """The lowest version each floor allows is not affected: a fresh install cannot pick
    a vulnerable release, whatever the resolver prefers."""
    by_package: dict[str, list[dict]] = {}
    for advisory in audit_deps.load_advisories():
        by_package.setdefault(canonicalize_name(advisory["package"]), []).append(advisory)
    floors = {}
    for req in audit_deps.declared():
        lower = [s.version for s in req.specifier if s.operator in (">=", "==")]
        floors[canonicalize_name(req.name)] = lower[0] if lower else None
    for name in ("requests", "gunicorn", "werkzeug", "urllib3", "flask"):
        assert floors.get(name), f"{name} has no floor in setup.cfg"
    problems = [f"{name}>={floor} allows {a['id']}"
                for name, floor in floors.items() if floor
                for a in by_package.get(name, []) if audit_deps.affects(a, floor)]
    assert problems == []
