"""The package rule, read from the source: only rl/ imports across synth, rewards, curricula
and cluster; models/ (the model and tokenizer resolver) imports none of them; no cycles.

Imports are read with `ast`, inside functions too (a lazy import is still a dependency). One
exception: an entry point, a package's `__main__.py` or a module's `if __name__ == "__main__":`
block, is a composition root that no import runs, so it may wire in `rl` (`python -m synth
longpo` hands the generator completions from rl's rollout pool; every CLI ends through
rl/cli_guard.py); it can close no import cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LEAVES = ("synth", "rewards", "curricula", "cluster")
PACKAGES = (*LEAVES, "models", "rl")
# Who may import whom, beyond itself; the leaves' own edges are checked apart.
ALLOWED = {
    "models": set(),
    "synth": {"models"},
    "rewards": set(),
    "curricula": set(),
    "cluster": {"models"},
    "rl": {"synth", "rewards", "curricula", "cluster", "models"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _main_block_nodes(tree: ast.Module) -> set[int]:
    """ids of every node inside a module-level `if __name__ == "__main__":` block."""
    inside: set[int] = set()
    for node in tree.body:
        test = node.test if isinstance(node, ast.If) else None
        if (
            isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Name)
            and test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
        ):
            inside.update(id(child) for statement in node.body for child in ast.walk(statement))
    return inside


def imports_of(path: Path, entry_blocks: bool = True) -> list[tuple[int, str, bool]]:
    """(line, imported module, at module level) for every absolute first-party import;
    `entry_blocks=False` leaves out those inside `if __name__ == "__main__":`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    skipped = set() if entry_blocks else _main_block_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import mod` may name a submodule: count both forms.
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PACKAGES:
                found.append((node.lineno, name, id(node) in top_level))
    return found


def source_files(root: Path = REPO, entry_points: bool = False) -> list[Path]:
    """Every module of the packages; entry points (`__main__.py`) only when asked."""
    return sorted(
        path
        for package in PACKAGES
        for path in (root / package).rglob("*.py")
        if entry_points or path.name != "__main__.py"
    )


def rule_violations(root: Path = REPO) -> list[str]:
    broken = []
    for path in source_files(root, entry_points=True):
        own = path.relative_to(root).parts[0]
        library = set(imports_of(path, entry_blocks=False))
        for import_ in imports_of(path):
            line, name, _ = import_
            entry = path.name == "__main__.py" or import_ not in library
            allowed = ALLOWED[own] | ({"rl"} if entry else set())
            other = name.split(".")[0]
            if other != own and other not in allowed:
                broken.append(f"{path.relative_to(root)}:{line} imports {name}")
    return sorted(set(broken))


def test_every_package_imports_only_what_the_rule_allows():
    broken = rule_violations()
    assert not broken, "imports across packages that only rl/ may make:\n" + "\n".join(broken)


def test_no_import_cycles_between_modules():
    """Module-level imports only: a function-local import is how a cycle is legitimately broken."""
    modules = {module_name(path): path for path in source_files()}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for _, imported, at_top in imports_of(path):
            if not at_top:
                continue
            while imported and imported not in modules:  # `from a.b import name` -> a.b
                imported = imported.rpartition(".")[0]
            # `from pkg import submodule` also lists pkg itself; importing an ancestor package
            # is implied by any import below it, so only real modules count as edges.
            if imported and imported != name and not name.startswith(imported + "."):
                graph[name].add(imported)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_cycles_between_packages():
    edges = {package: set() for package in PACKAGES}
    for path in source_files():
        own = path.relative_to(REPO).parts[0]
        for _, name, _ in imports_of(path, entry_blocks=False):
            if name.split(".")[0] != own:
                edges[own].add(name.split(".")[0])
    assert find_cycle(edges) is None


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a path that ends where it starts, or None (iterative DFS)."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    for root in graph:
        if root in state:
            continue
        stack = [(root, iter(sorted(graph[root])))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                path = [entry[0] for entry in stack]
                return path[path.index(child) :] + [child]
            elif child not in state and child in graph:
                state[child] = 1
                stack.append((child, iter(sorted(graph[child]))))
    return None


@pytest.mark.parametrize(
    ("graph", "has_cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, False),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
        ({"a": {"a"}}, True),
        ({"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}, False),
    ],
)
def test_the_cycle_finder_itself(graph, has_cycle):
    assert (find_cycle(graph) is not None) == has_cycle


def test_the_rule_catches_a_forbidden_import(tmp_path):
    """An import inside a function (where the old violations hid) still breaks the rule."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "rl" / "fine.py").write_text("from synth import GENERATORS\n")
    (tmp_path / "synth" / "bad.py").write_text(
        "def f():\n    from cluster.pool import RolloutPool\n    return RolloutPool\n"
    )
    assert rule_violations(tmp_path)[0] == "synth/bad.py:2 imports cluster.pool"


def test_an_entry_block_may_wire_in_rl_and_nothing_else(tmp_path):
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "curricula" / "tool.py").write_text(
        'if __name__ == "__main__":\n    from rl.cli_guard import run_cli\n'
        "    from cluster.pool import RolloutPool\n"
    )
    broken = rule_violations(tmp_path)
    assert broken and all(
        line.startswith("curricula/tool.py:3 imports cluster.pool") for line in broken
    )
