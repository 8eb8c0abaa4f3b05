"""The bridge's layers, checked from the source (function-level imports included).

Each layer imports only from the layers below it, so a newcomer can read the code bottom
up and a change to a view cannot reach into the HTTP clients' guards:

    core      every other top-level module: errors, logs, netaddr, outbound, config, db,
              models, queue, migrations, ...
    clients   jira/, asana/               (HTTP to one system each)
    services  services/                   (the work; no Flask)
    web       web/                        (Flask views)
    entry     __init__ (create_app), cli, worker, wsgi, tasks, supervisor

The README's map of the code describes the same order.
"""

from __future__ import annotations

import ast
from pathlib import Path

import bridge

ROOT = Path(bridge.__file__).parent
LAYERS = {"core": 0, "clients": 1, "services": 2, "web": 3, "entry": 4}
ENTRY = {"cli", "worker", "wsgi", "tasks", "supervisor"}


def _layer(module: str) -> str:
    parts = module.split(".")[1:]  # drop "bridge"
    if not parts:
        return "entry"
    top = parts[0]
    if top in ("jira", "asana"):
        return "clients"
    if top in ("services", "web"):
        return top
    return "entry" if top in ENTRY else "core"


def _imports(path: Path) -> list[tuple[int, str]]:
    module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
                if node.module:
                    found.append((node.lineno, name))
                else:
                    found.extend((node.lineno, f"{name}.{a.name}") for a in node.names)
            else:
                found.append((node.lineno, node.module or ""))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
    return found


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        if path.name == "__init__.py" and path.parent == ROOT:
            continue  # the package itself is the app factory (entry)
        yield path, ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)


def test_every_module_imports_only_from_layers_below_or_its_own():
    wrong = []
    for path, module in _modules():
        mine = LAYERS[_layer(module.removesuffix(".__init__"))]
        for line, target in _imports(path):
            if target in ("bridge", "bridge.__version__") or not target.startswith("bridge."):
                continue
            theirs = LAYERS[_layer(target)]
            if theirs > mine:
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line} imports {target}")
    assert wrong == []


def test_flask_only_in_web_and_the_entry_points():
    wrong = [f"{path.relative_to(ROOT.parent)}:{line}"
             for path, module in _modules()
             if _layer(module) not in ("web", "entry")
             for line, target in _imports(path)
             if target == "flask" or target.startswith(("flask.", "werkzeug"))]
    assert wrong == []


def _graph() -> dict[str, set[str]]:
    """Module → the bridge modules it imports (packages' ``__init__`` left out: importing
    a package is importing its modules, which are nodes of their own)."""
    modules = {module: path for path, module in _modules()}

    def resolve(target: str) -> str | None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges = graph.setdefault(module, set())
        for _, target in _imports(path):
            found = resolve(target) if target.startswith("bridge.") else None
            if found and found != module and modules[found].name != "__init__.py":
                edges.add(found)
    return graph


def test_no_module_imports_itself_through_others():
    graph = _graph()
    circles = []
    for start in graph:
        seen, todo = set(), list(graph[start])
        while todo:
            module = todo.pop()
            if module == start:
                circles.append(start)
                break
            if module not in seen:
                seen.add(module)
                todo.extend(graph.get(module, ()))
    assert circles == []
