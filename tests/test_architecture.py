"""The layers the folders show: imports run one way, and no module imports itself in a circle.

Every import of every module counts: at the top, inside functions, and under
``TYPE_CHECKING``. A lazy import inside a function is fine where it runs downwards (it keeps
start-up fast); one that runs upwards, or closes a circle, is a defect this test names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "bayes_gravity"
ROOT = "bayes_gravity"

# Top to bottom. A module may import its own group and any group of a lower layer; groups of
# the same layer are peers and must not import each other. "" is the package's __init__.
LAYERS: list[set[str]] = [
    {"__main__"},
    {"cli", ""},
    {"api"},
    {"report"},
    {"results", "validation"},
    {"model", "classic"},
    {"data"},
    {"foundation"},
]
FOUNDATION = {"config", "errors", "io", "lock", "potential"}  # + output-folder locks


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def group(module: str) -> str:
    parts = module.split(".")[1:]
    if not parts:
        return ""
    return "foundation" if parts[0] in FOUNDATION else parts[0]


def layer(module: str) -> int:
    name = group(module)
    for rank, names in enumerate(LAYERS):
        if name in names:
            return rank
    raise AssertionError(f"{module}: group {name!r} is in no layer; add it to LAYERS")


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """Every package module that ``module`` imports, wherever the import statement stands."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            # `from pkg import sub` imports the submodule when there is one
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target == ROOT or target.startswith(ROOT + "."):
                while target not in known:  # `import a.b.c` of an attribute path
                    target = target.rpartition(".")[0]
                if target != module:
                    found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_the_graph_is_read() -> None:
    graph = import_graph()
    # known edges of each kind: top level, inside a function, `from pkg import submodule`
    assert "bayes_gravity.results.store" in graph["bayes_gravity.results.tables"] or (
        "bayes_gravity.results.tables" in graph["bayes_gravity.results.store"]
    )
    assert "bayes_gravity.model.gravity_model" in graph["bayes_gravity.api"]  # in a function
    assert "bayes_gravity.results.artefacts" in graph["bayes_gravity.results.store"]
    assert len(graph) > 40


def test_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles (modules that import each other, in any place):\n" + (
        "\n".join(" <-> ".join(c) for c in found)
    )


def test_imports_run_down_the_layers() -> None:
    wrong = []
    for module, targets in import_graph().items():
        for target in sorted(targets):
            if group(target) == group(module):
                continue
            if layer(target) <= layer(module):
                what = "a peer" if layer(target) == layer(module) else "a higher layer"
                wrong.append(f"{module} imports {target} ({what})")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_every_package_says_what_it_owns_and_may_import() -> None:
    for init in sorted(PACKAGE.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert len(doc.split()) >= 25, f"{init}: the docstring must say what the package owns"
        if init.parent.parent == PACKAGE:  # the layers' own packages
            assert "import" in doc, f"{init}: say what the package may import"


@pytest.mark.parametrize(
    ("source", "bad"),
    [
        # the checker itself must see what it is meant to refuse
        ("def f():\n    from bayes_gravity.report.assemble import write_report\n", True),
        ("from bayes_gravity.results import artefacts\n", True),
        ("from bayes_gravity.errors import ConfigError\n", False),
    ],
)
def test_checker_sees_imports_inside_functions(source: str, bad: bool, tmp_path: Path) -> None:
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    known = set(modules())
    targets = imports_of("bayes_gravity.data.probe", path, known)
    upward = [t for t in targets if layer(t) < layer("bayes_gravity.data.probe")]
    assert bool(upward) is bad
