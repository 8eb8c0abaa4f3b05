"""The companion Jira plugin: an XML-only JAR whose admin item opens /jira/connect."""

import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]


def test_built_jar_links_admins_to_the_bridge_for_this_jira(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build-plugin"), "--bridge-url",
         "https://bridge.example.com/", "--jira-url", "https://Jira.Example.com:443/jira/",
         "--out", str(tmp_path), "--version", "1.2.3"],
        capture_output=True, text=True, check=True)
    jar = Path(out.stdout.strip())
    assert jar.name == "asana-bridge-connector-1.2.3.jar"
    with zipfile.ZipFile(jar) as zf:
        names = set(zf.namelist())
        manifest = zf.read("META-INF/MANIFEST.MF").decode()
        root = ET.fromstring(zf.read("atlassian-plugin.xml"))
        bundle = zf.read("asana-bridge.properties").decode()
    assert {"atlassian-plugin.xml", "asana-bridge.properties", "META-INF/MANIFEST.MF"} <= names
    # Without Atlassian-Plugin-Key Jira transforms the XML-only JAR itself (§5.3).
    assert "Atlassian-Plugin-Key" not in manifest
    assert root.get("plugins-version") == "2"
    info = root.find("plugin-info")
    assert info.findtext("version") == "1.2.3"
    params = {p.get("name"): p.text for p in info.findall("param")}
    assert params["atlassian-data-center-status"] == "compatible"
    assert params["atlassian-data-center-compatible"] == "true"
    section = root.find("web-section")
    assert section.get("location") == "admin_plugins_menu"
    item = root.find("web-item")
    assert item.get("section") == f"admin_plugins_menu/{section.get('key')}"
    link = urlsplit(item.findtext("link"))
    assert (link.scheme, link.netloc, link.path) == ("https", "bridge.example.com",
                                                     "/jira/connect")
    assert parse_qs(link.query) == {"jira": ["https://jira.example.com/jira"]}
    for element in root.iter():
        key = element.get("key") if element.tag in ("label", "tooltip", "description") else None
        if key:
            assert f"{key}=" in bundle, f"i18n key {key} missing"
    assert "@" not in ET.tostring(root, encoding="unicode")  # every placeholder filled


def test_build_refuses_a_cloud_jira(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build-plugin"), "--bridge-url",
         "https://bridge.example.com", "--jira-url", "https://acme.atlassian.net",
         "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode != 0
    assert "Jira Cloud" in result.stderr
