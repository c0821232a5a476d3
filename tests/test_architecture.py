"""The package's layering: every import, at module level or inside a function, points down or
within its own subpackage, and no modules import each other in a cycle."""

import ast
from pathlib import Path

import pytest

import activeloc

PACKAGE = Path(activeloc.__file__).parent
LAYERS = ["core", "data", "localization", "evaluation", "active", "experiments", "reporting", "ui"]
TOP = len(LAYERS)  # the package's own __init__ and cli sit above every layer


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(name: str) -> bool:
    return (PACKAGE.parent / Path(*name.split(".")) / "__init__.py").is_file()


def is_module(name: str) -> bool:
    return is_package(name) or (PACKAGE.parent / Path(*name.split("."))).with_suffix(".py").is_file()


def imports_in(source: str, name: str, is_init: bool = False) -> set[str]:
    """The activeloc modules that module ``name`` imports (``from x import y`` counts y when y is a module)."""
    package = name if is_init else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "activeloc"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "activeloc":
                continue
            found |= {f"{target}.{a.name}" if is_module(f"{target}.{a.name}") else target for a in node.names}
    return found - {name}


def imports_of(path: Path) -> set[str]:
    return imports_in(path.read_text(), module_name(path), path.name == "__init__.py")


def layer(name: str) -> int:
    parts = name.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else TOP


GRAPH = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def test_every_subpackage_is_a_known_layer():
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert subpackages <= set(LAYERS)
    top_modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert top_modules == {"__init__", "cli"}, "modules belong in a layer's subpackage"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down_or_sideways_within_a_subpackage(module):
    for target in GRAPH[module]:
        if target == "activeloc":
            assert layer(module) == TOP, f"{module} imports the package root, which imports every layer"
            continue
        assert layer(target) <= layer(module), f"{module} (layer {LAYERS[layer(module)] if layer(module) < TOP else 'top'}) imports {target}: upward"


def find_cycle(graph: dict) -> list:
    """One import cycle of ``graph`` (module -> imported modules) as a path, or []."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path + [nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = "done"
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node, [node])):
            return found
    return []


def test_no_import_cycles():
    cycle = find_cycle(GRAPH)
    assert not cycle, f"import cycle: {' -> '.join(cycle)}"


def test_the_checker_sees_upward_imports_and_cycles():
    name = "activeloc.data.annotations"
    found = imports_in("def f():\n    from ..active.loop import ActiveLearningLoop\n", name)
    assert found == {"activeloc.active.loop"} and layer("activeloc.active.loop") > layer(name)
    assert imports_in("from . import dataset\nimport activeloc.core.io\n", name) == {
        "activeloc.data.dataset", "activeloc.core.io"}
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []
