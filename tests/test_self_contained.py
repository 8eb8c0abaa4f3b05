"""The repository needs nothing beside it (issue 15): the product reads no path outside the
tree, the schemas kept in the tree match what their script makes from Asana's files."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import upstream

ROOT = upstream.ROOT

# Ways code has reached the folder beside the repository.
OUTSIDE = re.compile(r"BRIDGE_SHARED_DIR|\.\./shared|[\"']shared[\"']|/work/")


def _product_files():
    for top in ("bridge", "sandbox"):
        for path in (ROOT / top).rglob("*"):
            if path.suffix in (".py", ".html", ".js", ".toml", ".cfg", ".json", ".yaml") \
                    and ".egg-info" not in str(path):
                yield path


def test_product_code_reads_nothing_outside_the_repository():
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for path in _product_files()
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if OUTSIDE.search(line)]
    assert not found, "\n".join(found)


def test_the_guard_sees_such_a_read():
    assert OUTSIDE.search('SHARED = Path(bridge.__file__).parents[1].parent / "shared"')
    assert OUTSIDE.search('os.environ.get("BRIDGE_SHARED_DIR")')


@pytest.mark.upstream
def test_kept_asana_schemas_match_asanas_files():
    """The stricter layer: re-extract from the full upstream specs; any drift fails."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "extract-asana-schemas"), "--check",
         "--from", str(upstream.SHARED / "specs" / "asana")],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_test_vectors_match_their_script():
    """The vectors are what scripts/make-test-vectors computes (oauthlib, cryptography,
    hmac), not hand-edited."""
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "make-test-vectors"),
                             "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


DOCS_OUTSIDE = re.compile(r"\.\./|/work/|\bshared/(design|reference|specs|vectors|tools)\b")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _documents():
    yield ROOT / "README.md"
    yield from sorted((ROOT / "docs").glob("*.md"))
    yield from sorted((ROOT / "sandbox").rglob("README.md"))


def _outside_references(path, root=ROOT) -> list[str]:
    text = path.read_text(encoding="utf-8")
    found = [f"{path.relative_to(root)}:{n}: {line.strip()}"
             for n, line in enumerate(text.splitlines(), 1) if DOCS_OUTSIDE.search(line)]
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a web address or an anchor on the same page
        resolved = (path.parent / target.split("#", 1)[0]).resolve()
        if not resolved.is_relative_to(root) or not resolved.exists():
            found.append(f"{path.relative_to(root)}: link to {target} leads nowhere in "
                         "the repository")
    return found


def test_readme_and_docs_point_only_inside_the_repository():
    """A reader with nothing beside the clone can follow every link (issue 15)."""
    assert (ROOT / "docs" / "architecture.md").is_file()
    found = [line for path in _documents() for line in _outside_references(path)]
    assert not found, "\n".join(found)


def test_the_document_guard_sees_outside_references(tmp_path):
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "architecture.md").write_text("# Architecture\n")
    page = root / "docs" / "probe.md"
    page.write_text("See `../shared/reference/` and [the design](../../ARCHITECTURE.md)"
                    " and [gone](missing.md) but [ok](architecture.md).\n")
    assert len(_outside_references(page, root)) == 3
