"""Every twinbert module imports on its own, no import cycle inside twinbert, and the optional extras
that twinbert.extras names are the extras pyproject.toml declares.

The cycle check reads the source (ast), not a running interpreter: an edge M -> X for each import
that runs when M is imported (module level, outside `if TYPE_CHECKING:`; imports inside functions are
deferred on purpose and do not count). Importing X also runs the __init__ of each package above X that
is not above M. `from P import name` is an edge to P, even when name is a submodule: a module that
reaches into its own package's namespace while that package's __init__ imports it is the cycle
issue #12 named (search <-> search.index); import from the submodule instead (`from .tuning import ...`).

The architecture checks read every import that can run, function-level ones too (deferred, but they still
run), between units: a subpackage or a top-level module of twinbert. The units sit on FLOORS; an import may
reach its own floor or one below, never one above; and no two units import each other.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "twinbert"


def module_files(src: Path = SRC) -> dict[str, Path]:
    """Module name -> file, for every .py file of the package under `src`."""
    modules = {}
    for path in sorted((src / ROOT).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_imports(body: list[ast.stmt]):
    """The import statements that run at import time: module level, also inside if / try blocks."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            yield from _runtime_imports(node.body)
            yield from _runtime_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _runtime_imports(block)


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Module -> the twinbert modules its import runs (see the module docstring)."""
    modules = module_files(src)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8")).body):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            base = package.split(".")
            if node.level:
                base = base[:len(base) - node.level + 1]
            origin = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module
            targets.add(origin)  # even for a submodule: P's __init__ runs first, and may import M
            targets.update(f"{origin}.{alias.name}" for alias in node.names)
        edges = set()
        above = {*_ancestors(name), name}  # already being imported when M runs
        for target in targets:
            if target.split(".")[0] == ROOT and target != name:
                edges.update(t for t in _ancestors(target) if t in modules and t not in above)
                if target in modules:
                    edges.add(target)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle_inside_twinbert():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_check_finds_cycles(tmp_path):
    package = tmp_path / ROOT / "search"
    package.mkdir(parents=True)
    (tmp_path / ROOT / "__init__.py").write_text("")
    (package / "__init__.py").write_text("from .index import Index\n")
    (package / "exact.py").write_text("X = 1\n")
    (package / "index.py").write_text("from __future__ import annotations\n"
                                      "from typing import TYPE_CHECKING\n"
                                      "from .exact import X\n"
                                      "if TYPE_CHECKING:\n    from twinbert.search import Index\n"
                                      "def late():\n    from twinbert.search import Index\n"
                                      "class Index: ...\n")
    assert find_cycle(import_graph(tmp_path)) is None
    for reach_back in ("from . import exact\n", "from twinbert.search import exact\n", "import twinbert.search\n"):
        (package / "index.py").write_text(reach_back)
        assert find_cycle(import_graph(tmp_path)) == ["twinbert.search", "twinbert.search.index", "twinbert.search"]


# ----------------------------------------------------------------------------- floors and two-way imports
# Lowest first, from the code's own imports. "twinbert" is the package's __init__ itself (its light names:
# __version__, the errors); a name it loads lazily (load, Index, ...) counts as an import of its module.
FLOORS = (
    # ground: the borders (file formats, hashing, dataset readers) and the leaves they use. similarity is
    # here because model and index folders name its metrics (formats reads similarity.METRICS)
    ("twinbert", "errors", "checks", "extras", "progress", "similarity", "formats", "data"),
    # core: the one flow from text to vector, and its small helpers
    ("device", "quantize", "plots", "batching", "modules", "losses", "encode_options", "encode_file", "chunking",
     "runtime", "encoder", "export", "compare"),
    # what runs on the encoder: search, distributed encoding, evaluation
    ("search", "distributed", "evaluate"),
    # training, and the BERT heads trained with it
    ("train", "bert"),
    # the faces: server, recipes, command line
    ("serve", "recipes", "cli", "__main__"),
)


def _all_imports(tree: ast.AST):
    """Every import statement of a module, at any depth, but those under `if TYPE_CHECKING:`."""
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _is_type_checking(node)
               for n in ast.walk(node)}
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in skipped]


def _unit(module: str) -> str:
    """The unit of a twinbert module: its subpackage or top-level module ("twinbert" for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def _lazy_names(src: Path) -> dict[str, str]:
    """The names the package's __init__ loads lazily (its _LAZY dict): name -> module."""
    init = src / ROOT / "__init__.py"
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_LAZY" for t in node.targets):
            return {k: f"{ROOT}.{v}" for k, v in ast.literal_eval(node.value).items()}
    return {}


def _targets(node: ast.Import | ast.ImportFrom, package: str, modules: dict[str, Path], lazy: dict[str, str]):
    """The twinbert modules an import statement reaches (a name from the package: its module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = package.split(".")
    origin = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else [])) \
        if node.level else node.module
    if origin != ROOT:
        return [origin]
    return [f"{ROOT}.{a.name}" if f"{ROOT}.{a.name}" in modules else lazy.get(a.name, ROOT) for a in node.names]


def unit_imports(src: Path = SRC) -> dict[tuple[str, str], list[str]]:
    """(unit, unit it imports) -> the "module:line" of each such import, for imports between two units."""
    modules, lazy = module_files(src), _lazy_names(src)
    found: dict[tuple[str, str], list[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _all_imports(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _targets(node, package, modules, lazy):
                if target.split(".")[0] == ROOT and _unit(target) != _unit(name):
                    found.setdefault((_unit(name), _unit(target)), []).append(f"{name}:{node.lineno}")
    return found


def upward_imports(imports: dict[tuple[str, str], list[str]], floors=FLOORS) -> list[str]:
    """Each import from a lower floor to a higher one, and each unit that has no floor."""
    floor = {unit: k for k, units in enumerate(floors) for unit in units}
    units = {u for pair in imports for u in pair}
    problems = [f"{u}: on no floor (add it to FLOORS)" for u in sorted(units - set(floor))]
    for (a, b), where in sorted(imports.items()):
        if a in floor and b in floor and floor[b] > floor[a]:
            problems.append(f"{a} (floor {floor[a]}) imports {b} (floor {floor[b]}): {', '.join(where)}")
    return problems


def two_way_imports(imports: dict[tuple[str, str], list[str]]) -> set[frozenset[str]]:
    """The pairs of units that import each other."""
    return {frozenset(pair) for pair in imports if pair[::-1] in imports}


def test_no_import_runs_from_a_lower_floor_to_a_higher_one():
    problems = upward_imports(unit_imports())
    assert not problems, "imports against the floors:\n" + "\n".join(problems)


def test_no_two_units_import_each_other():
    imports = unit_imports()
    pairs = [sorted(p) for p in two_way_imports(imports)]
    found = [f"{a} <-> {b}: " + ", ".join(imports[a, b] + imports[b, a]) for a, b in sorted(pairs)]
    assert not found, "units importing each other:\n" + "\n".join(found)


def _tiny_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in {"__init__.py": "_LAZY = {'load': 'encoder'}\n", **files}.items():
        path = root / ROOT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


TINY_FLOORS = (("twinbert", "errors", "formats"), ("encoder", "runtime"), ("cli",))


def test_the_floor_check_finds_upward_imports(tmp_path):
    src = _tiny_package(tmp_path, {
        "errors.py": "X = 1\n", "formats/__init__.py": "", "runtime/__init__.py": "from ..errors import X\n",
        "formats/hashing.py": "from typing import TYPE_CHECKING\nfrom ..errors import X\n"
                              "if TYPE_CHECKING:\n    from ..encoder import E\n",
        "encoder.py": "from .formats import hashing\nclass E: ...\n",
        "cli/__init__.py": "def main():\n    from twinbert import load\n"})
    assert upward_imports(unit_imports(src), TINY_FLOORS) == []
    for reach_up, unit in (("def f():\n    from .. import load\n", "encoder"), ("import twinbert.cli\n", "cli"),
                           ("def f():\n    from ..runtime import X\n", "runtime")):
        (src / ROOT / "formats" / "hashing.py").write_text(reach_up)
        assert upward_imports(unit_imports(src), TINY_FLOORS) == \
            [f"formats (floor 0) imports {unit} (floor {1 if unit != 'cli' else 2}): twinbert.formats.hashing:"
             f"{2 if reach_up.startswith('def') else 1}"]
    (src / ROOT / "search.py").write_text("from .encoder import E\n")
    assert upward_imports(unit_imports(src), TINY_FLOORS)[0] == "search: on no floor (add it to FLOORS)"


def test_the_two_way_check_finds_units_importing_each_other(tmp_path):
    src = _tiny_package(tmp_path, {
        "errors.py": "X = 1\n", "runtime/__init__.py": "from ..errors import X\n",
        "encoder.py": "from typing import TYPE_CHECKING\nfrom .runtime import X\n"
                      "if TYPE_CHECKING:\n    from twinbert.runtime import backbone\n"})
    (src / ROOT / "runtime" / "backbone.py").write_text("from typing import TYPE_CHECKING\n"
                                                         "if TYPE_CHECKING:\n    from ..encoder import E\n")
    assert two_way_imports(unit_imports(src)) == set()
    (src / ROOT / "runtime" / "backbone.py").write_text("def export():\n    from twinbert import load\n")
    assert two_way_imports(unit_imports(src)) == {frozenset({"encoder", "runtime"})}


def test_every_module_imports_in_a_fresh_interpreter():
    """Each module alone, in a new interpreter (a cycle or a missing import shows whatever the order)."""
    names = [n for n in module_files() if not n.endswith("__main__")]
    code = ("import importlib, sys, traceback\nfailed = []\n"
            "for name in sys.argv[1:]:\n"
            "    for loaded in [m for m in sys.modules if m == 'twinbert' or m.startswith('twinbert.')]:\n"
            "        del sys.modules[loaded]\n"
            "    try:\n        importlib.import_module(name)\n"
            "    except Exception:\n        failed.append(name + ': ' + traceback.format_exc(limit=3))\n"
            "print('\\n'.join(failed))\nsys.exit(1 if failed else 0)\n")
    done = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def test_extras_match_pyproject():
    from twinbert import extras

    declared = tomllib.loads((SRC.parent / "pyproject.toml").read_text(encoding="utf-8"))
    optional = declared["project"]["optional-dependencies"]
    for module, (package, extra) in extras.EXTRAS.items():
        assert extra in optional, f"extras.EXTRAS[{module!r}] names the extra {extra!r}, not in pyproject.toml"
        names = [req.split(">")[0].split("=")[0].split("<")[0].split("[")[0].strip().lower() for req in optional[extra]]
        assert package in names, f"pyproject's extra {extra!r} does not install {package}"


@pytest.mark.parametrize("module, extra", [("faiss", "faiss"), ("yaml", "yaml"), ("matplotlib", "plot"),
                                           ("fastapi", "serve"), ("uvicorn", "serve"), ("ray.data", "ray")])
def test_a_missing_extra_names_it(monkeypatch, module, extra):
    import builtins

    from twinbert import extras
    from twinbert.errors import MissingExtraError

    real_import = builtins.__import__

    def without(name, *args, **kwargs):
        if name == module:
            raise ImportError(f"No module named {module!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without)
    with pytest.raises(MissingExtraError, match=rf"needs the optional .* package: pip install 'twinbert\[{extra}\]'") as e:
        extras.require(module, "this feature")
    assert e.value.extra == extra
