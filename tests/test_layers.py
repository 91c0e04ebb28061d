"""The package's architecture: layers point down, no cycles, no private names across modules.

The layers are declared in ``pyproject.toml`` ([tool.importlinter]) and explained in
``docs/architecture.md``; import-linter checks them. The last test shows that the check can
fail: the same contract run on a copy of the package with one upward import is broken.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bayes_rent"


def _lint(root: Path, config: Path) -> subprocess.CompletedProcess:
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        f"sys.exit(lint_imports(config_filename={str(config)!r}, no_cache=True))"
    )
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _imports(name: str, path: Path, known: dict[str, Path]):
    """(imported module, imported name) pairs of one module, every import statement counted."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in known else base), alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None


def test_layers_point_down():
    result = _lint(ROOT, ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(PACKAGE, copy / "bayes_rent", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    layout = copy / "bayes_rent" / "spec" / "layout.py"
    layout.write_text(layout.read_text(encoding="utf-8") + "\nimport bayes_rent.fit  # upward\n",
                      encoding="utf-8")
    result = _lint(copy, copy / "pyproject.toml")
    assert result.returncode != 0
    assert "bayes_rent.spec.layout -> bayes_rent.fit" in result.stdout


def test_the_import_graph_has_no_cycles():
    known = _modules()
    graph = {
        name: {
            target for target, _ in _imports(name, path, known)
            if target in known and target != name and known[target].name != "__init__.py"
        }
        for name, path in known.items()
    }
    cycles = []
    for start in graph:
        stack, seen = [(start, (start,))], set()
        while stack:
            node, trail = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.append(" -> ".join(trail + (start,)))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, trail + (nxt,)))
    assert not cycles, "\n".join(sorted(set(cycles))[:5])


def test_no_private_name_crosses_a_module_boundary():
    known = _modules()
    crossing = [
        f"{name} imports {imported} from {target}"
        for name, path in known.items()
        for target, imported in _imports(name, path, known)
        if target.startswith("bayes_rent") and imported and imported.startswith("_")
        and not imported.startswith("__")
    ]
    assert not crossing, "\n".join(crossing)


def test_no_public_function_only_raises_not_implemented():
    """Every public function or method does something: a capability that is not there yet is
    refused inside a method that works for the other cases, or listed in a table with why."""
    only_raises = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                continue
            body = [s for s in node.body
                    if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
            if (len(body) == 1 and isinstance(body[0], ast.Raise) and body[0].exc is not None
                    and "NotImplementedError" in ast.unparse(body[0].exc)):
                only_raises.append(f"{name}.{node.name}")
    assert not only_raises, only_raises
