"""pyproject.toml holds what each part of the project imports, and nothing needs a `sys.path` edit.

Each dependency group is checked by walking the imports (``ast``, every ``import`` in a module, lazy ones too, except
those guarded by ``except ImportError``) from the group's entry modules through the project's own modules: every
third-party import must come from a distribution the group installs (its pins, or what they depend on, read from the
installed metadata). ``requirements.txt``, which Pulumi installs into the program's own virtualenv, must be exactly
the ``program`` group. ``python3 -m scripts.program_venv`` (run by .ci/run) proves the same for the program by
installing that group into a fresh venv and previewing both stacks with it.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata as metadata
import re
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = canonicalize_name(PYPROJECT["project"]["name"])
GROUPS = PYPROJECT["project"]["optional-dependencies"]
#: Top-level folders with our own code (packages, plus the scripts and the tests).
LOCAL = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()} | {"scripts", "tests"}
#: Folders never walked: virtualenvs, build output, caches.
SKIP = {".venv", ".venv-program", ".build", ".git", ".localcloud", "node_modules", "__pycache__"}


def _modules(package: str, *, without: Iterable[str] = ()) -> list[str]:
    """Every module of a package (a folder of ROOT), minus those under the dotted prefixes in ``without``."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if SKIP & set(path.relative_to(ROOT).parts):
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if not any(name == w or name.startswith(w + ".") for w in without):
            found.append(name)
    return found


#: Where each group's users start. The Lambdas run in process in the local cloud (its handlers are imported by name
#: from the functions' configuration), so their modules are the local cloud's. So is `ops conformance`: it compares
#: AWS's answers with the local cloud's (ops.conformance.expectations), so it needs the localcloud group; `ops` itself
#: only imports ops.conformance.cli to list the command, so the ops group covers what importing it runs.
ENTRIES: dict[str, list[str]] = {
    "program": ["__main__", "scripts.program_venv"],
    "pki": _modules("pki"),
    "device": _modules("device"),
    "ops": _modules("ops", without=["ops.conformance"]),
    "policy": _modules("policy", without=["policy.tools"]),  # policy/tools/requirements.txt: a generator's own
    "localcloud": [*_modules("localcloud"), *_modules("functions"), "__main__", *_modules("ops/conformance")],
    "dev": ["__main__", *(m for top in sorted(LOCAL) for m in _modules(top, without=["policy.tools"]))],
}
#: Per group, the modules that count only for what importing them runs (see ``walk``).
SHALLOW: dict[str, list[str]] = {"ops": ["ops.conformance"]}


def _file_of(module: str) -> Path | None:
    if module == "__main__":
        return ROOT / "__main__.py"
    path = ROOT.joinpath(*module.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _guarded(handlers: list[ast.ExceptHandler]) -> bool:
    names = {n.id for h in handlers if h.type is not None for n in ast.walk(h.type) if isinstance(n, ast.Name)}
    return bool(names & {"ImportError", "ModuleNotFoundError"})


def _imports(path: Path, module: str, *, lazy: bool = True) -> list[str]:
    """The dotted names ``path`` imports (``from a import b`` gives ``a`` and ``a.b``), relative ones resolved; with
    ``lazy=False`` only those that run when the module is imported (none inside a function)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if not lazy and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return
        if isinstance(node, ast.Try) and _guarded(node.handlers):
            for child in node.handlers + node.orelse + node.finalbody:
                visit(child)
            return  # the body's imports are optional: their ImportError is handled
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append(target)
            found.extend(f"{target}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append(node.args[0].value)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return found


def _sibling(path: Path, module: str, name: str) -> str | None:
    """``name`` imported top-level from a folder that holds it (a Lambda's modules, as laid out in its zip, whose root
    is functions/; a test folder's helpers, which pytest puts on sys.path): the dotted name of that file."""
    top = name.split(".")[0]
    folders = [path.parent]
    if path.is_relative_to(ROOT / "functions"):
        folders.append(ROOT / "functions")
    for folder in folders:
        if (folder / top).is_dir() or (folder / f"{top}.py").is_file():
            prefix = ".".join(folder.relative_to(ROOT).parts)
            return f"{prefix}.{name}" if prefix else name
    return None


def walk(entries: Iterable[str], *, shallow: Iterable[str] = ()) -> tuple[set[str], dict[str, set[str]]]:
    """The project modules reachable from ``entries`` and the third-party top-level names they import (with who).

    A module under a dotted prefix in ``shallow`` counts only for what importing it runs (its module-level imports,
    and theirs): what its functions import lazily belongs to another group.
    """
    shallow = tuple(shallow)
    done: dict[str, bool] = {}  # module -> walked with its lazy imports
    third_party: dict[str, set[str]] = {}
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    todo = [(m, True) for m in entries]
    while todo:
        module, lazy = todo.pop()
        lazy = lazy and not any(module == s or module.startswith(s + ".") for s in shallow)
        if module in done and (done[module] or not lazy):
            continue
        path = _file_of(module)
        if path is None:
            continue
        done[module] = lazy
        parts = module.split(".")
        todo.extend((".".join(parts[:i]), lazy) for i in range(1, len(parts)))  # importing a.b.c runs a and a.b
        for imported in _imports(path, module, lazy=lazy):
            top = imported.split(".")[0]
            if top in stdlib:
                continue
            sibling = _sibling(path, module, imported)
            name = imported
            if sibling:
                name = sibling
            elif top not in LOCAL:
                third_party.setdefault(top, set()).add(str(path.relative_to(ROOT)))
                continue
            while name and _file_of(name) is None:
                name = name.rpartition(".")[0]
            if name:
                todo.append((name, lazy))
    return set(done), third_party


def group_requirements(group: str) -> list[Requirement]:
    """The group's requirements, the project's own extras it names expanded."""
    found: list[Requirement] = []
    for line in GROUPS[group]:
        requirement = Requirement(line)
        if canonicalize_name(requirement.name) == PROJECT:
            for extra in sorted(requirement.extras):
                found.extend(group_requirements(extra))
        else:
            found.append(requirement)
    return found


def installs(requirements: Iterable[Requirement]) -> set[str]:
    """Every distribution that installing ``requirements`` brings (per the installed metadata), canonical names."""
    environment = default_environment()
    seen: set[str] = set()
    todo = [(r.name, frozenset(r.extras)) for r in requirements]
    done: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (canonicalize_name(name), extras) in done:
            continue
        done.add((canonicalize_name(name), extras))
        seen.add(canonicalize_name(name))
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            markers = requirement.marker
            if markers is None or any(markers.evaluate({**environment, "extra": e}) for e in extras | {""}):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return seen


def _requirements_txt() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def _normal(requirement: str) -> str:
    parsed = Requirement(requirement)
    extras = f"[{','.join(sorted(parsed.extras))}]" if parsed.extras else ""
    return f"{canonicalize_name(parsed.name)}{extras}{parsed.specifier}"


def test_requirements_txt_is_exactly_the_program_group() -> None:
    """Pulumi installs requirements.txt into .venv-program (Pulumi.yaml): it must be the program's group, no more."""
    program = sorted(_normal(str(r)) for r in group_requirements("program"))
    assert sorted(_normal(line) for line in _requirements_txt()) == program, (
        "requirements.txt and pyproject.toml's `program` group differ: change both (requirements.txt is what Pulumi "
        "installs into the program's virtualenv)")


def test_every_pin_is_exact_and_agrees_across_groups() -> None:
    pins: dict[str, set[str]] = {}
    for group in GROUPS:
        for requirement in group_requirements(group):
            assert str(requirement.specifier).startswith("=="), f"{group}: {requirement} is not pinned with =="
            pins.setdefault(canonicalize_name(requirement.name), set()).add(str(requirement.specifier))
    assert {name: sorted(v) for name, v in pins.items() if len(v) > 1} == {}


def test_dev_installs_every_group() -> None:
    dev = {_normal(str(r)) for r in group_requirements("dev")}
    for group in GROUPS:
        assert {_normal(str(r)) for r in group_requirements(group)} <= dev, f"dev lacks some of {group}"


@pytest.mark.parametrize("group", sorted(ENTRIES))
def test_group_installs_everything_its_code_imports(group: str) -> None:
    _, third_party = walk(ENTRIES[group], shallow=SHALLOW.get(group, ()))
    provided = installs(group_requirements(group))
    providers = metadata.packages_distributions()
    missing = {}
    for top, files in sorted(third_party.items()):
        dists = {canonicalize_name(d) for d in providers.get(top, [])}
        if not dists & provided:
            missing[top] = f"{sorted(dists) or 'not installed here'}, imported by {sorted(files)[:3]}"
    assert not missing, (f"pyproject.toml's `{group}` group does not install what its code imports: {missing}; add "
                         "the distribution (pinned) to the group")


def test_the_program_reaches_only_its_own_code() -> None:
    """What `pulumi up` imports from the project: the program's folders and the pure ones they share, never the
    local cloud's moto side, the tools or the tests (scripts.program_venv's mocks come from localcloud.mockrun)."""
    seen, _ = walk(["__main__"])
    tops = {m.split(".")[0] for m in seen} - {"__main__"}
    assert tops <= {"builders", "components", "contract", "functions", "pki", "quotas"}, sorted(tops)
    proof, _ = walk(["scripts.program_venv"])
    assert {m for m in proof if m.startswith("localcloud")} <= {
        "localcloud", "localcloud.mockrun", "localcloud.compat", "localcloud.compat.pulumi"}, sorted(proof)


def test_console_scripts_run_the_same_main_as_python_dash_m() -> None:
    scripts = PYPROJECT["project"]["scripts"]
    assert sorted(scripts) == ["device", "localcloud", "ops", "pki"]
    for name, target in scripts.items():
        module, _, function = target.partition(":")
        assert (module, function) == (f"{name}.cli", "main"), target
        main_py = ast.parse((ROOT / name / "__main__.py").read_text(encoding="utf-8"))
        imported = {(n.module, a.name) for n in ast.walk(main_py) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert (module, function) in imported, f"{name}/__main__.py does not call {target}"
        assert callable(getattr(importlib.import_module(module), function))


def test_every_package_is_in_the_distribution() -> None:
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = sorted(LOCAL - {"scripts", "tests"})
    assert sorted(p for p in include if "*" not in p and "." not in p) == packages


def _python_files_outside_tests() -> list[Path]:
    return [p for p in sorted(ROOT.rglob("*.py"))
            if not SKIP & set(p.relative_to(ROOT).parts) and p.relative_to(ROOT).parts[0] != "tests"]


#: localcloud.mockrun runs __main__.py as Pulumi's language host does (runpy with the project folder first on
#: sys.path), and takes the folder off again: an emulation of the runtime, not an import workaround.
SYS_PATH_EMULATION = {"localcloud/mockrun.py"}


def test_no_sys_path_edits_outside_the_tests() -> None:
    edits = [f"{p.relative_to(ROOT)}:{n}" for p in _python_files_outside_tests()
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"sys\.path(\.insert|\.append|\[[^]]*\]\s*=)", line)
             and str(p.relative_to(ROOT)) not in SYS_PATH_EMULATION]
    assert edits == [], "the installed project (pip install -e '.[dev]') makes these unnecessary"


def test_nothing_outside_the_tests_imports_them() -> None:
    offenders = []
    for path in _python_files_outside_tests():
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if any(name == "tests" or name.startswith("tests.") for name in _imports(path, module)):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_readme_first_commands_install_the_dev_group_as_ci_does() -> None:
    """The README's first block stays two commands (set up and demo; test), installing what .ci/run installs."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", readme, re.DOTALL)
    assert block, "README.md has no ```bash block"
    commands = [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(commands) == 2, commands
    install = "pip install -e '.[dev]'"
    assert commands[0].startswith("python3 -m venv .venv && ") and install in commands[0], commands[0]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python3 -m venv .venv" in ci and "-e '.[dev]'" in ci and "python3 -m scripts.program_venv" in ci
    assert commands[1].split(" -m pytest")[0] == ".venv/bin/python" and commands[1] in ci, commands[1]
