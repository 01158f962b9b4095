"""dvc.yaml must declare everything a stage reads, or DVC trusts a stale output.

For every `python -m pipelines.<name>` stage this module derives, statically with `ast`:

- the code closure: the stage's own package (or module) and every project module (`pipelines.*`,
  `runtime.*`) it imports, transitively, including imports inside functions and the parent packages
  an import runs (not those under `if TYPE_CHECKING:`, which never run). Each file must lie under
  one of the stage's `deps` (an `__init__.py` holding only a docstring runs nothing and is skipped).
- the config reads: chains such as `cfg.sft.max_steps`, `cfg["sft"]`, `cfg.sft.get("x")`,
  `OmegaConf.select(cfg, "a.b")`, `{g: cfg[g] for g in GROUPS}`, and reads through aliases
  (`c = cfg.anonymize; c.mapping`), in the functions the stage can reach from its `__main__` (a stage
  that imports `pipelines.sft` for one helper does not read all of sft's settings). A config node
  passed to a project function is followed into it (`identify(cfg.subject, ...)` reads
  `subject.exclude` there); passed anywhere else (`OmegaConf.to_container(cfg.x)`) or iterated, its
  whole subtree is read. Each read must be covered by the stage's `params` (`memory` covers
  `memory.retrieval.max_tokens`; `subject.consent` covers only its subtree), unless its value is a
  path the stage declares as a dep or out (`sft.input`): DVC tracks that file itself.

Inside a function, `cfg` is the whole config unless its first key is not a config group (params.yaml's
top level): then it holds a sub-config a caller passed in, read through that call.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("pipelines", "runtime")
STAGE_CMD = re.compile(r"^python -m pipelines\.(\w+)\b")
ROOT_NAMES = {"cfg"}  # the project's name for the composed config (also `self.cfg`)
CONFIG_LOADERS = {"load_config", "compose_config"}  # `x = stage.load_config(...)` binds x to it too
DICT_METHODS = {"get", "items", "keys", "values", "copy", "pop", "setdefault"}  # reads of the node itself

# What needs no DVC param, and why. Keep it short: each entry is a place DVC cannot see a change.
IGNORED_GROUPS = {
    "paths": "paths reach DVC as deps and outs, not as params",
}
IGNORED_FUNCTIONS = {
    # the consent gate every stage runs (subject.consent): it refuses to run, it changes no output
    ("pipelines.stage", "require_consent"),
}
STAGES_WITHOUT_PARAMS = {
    "config": "composes conf/ (its dep) into params.yaml, its out: it reads no params",
}


# ---- modules and imports ----


def module_file(name: str, root: Path) -> Path | None:
    """The file that runs for an import of `name`, when it is a project module."""
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    base = root.joinpath(*name.split("."))
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


@dataclass
class Module:
    name: str
    path: Path  # relative to the project root
    tree: ast.Module
    defs: dict[str, ast.AST] = field(default_factory=dict)  # top-level functions and classes
    runs: set[str] = field(default_factory=set)  # project modules its imports execute
    modules: dict[str, str] = field(default_factory=dict)  # local name -> module it is bound to
    symbols: dict[str, tuple[str, str]] = field(default_factory=dict)  # local name -> (module, name)

    @property
    def runs_nothing(self) -> bool:
        """Only a docstring (a package's __init__): importing it cannot change an output."""
        body = self.tree.body
        return all(isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) for s in body)


def with_parents(name: str) -> list[str]:
    """`a.b.c` runs `a`, `a.b` and `a.b.c`."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def is_type_checking(node: ast.AST) -> bool:
    """`if TYPE_CHECKING:` (or `typing.TYPE_CHECKING`): imports for annotations, never run."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == "TYPE_CHECKING"


@cache
def load_module(name: str, root: Path) -> Module:
    path = module_file(name, root)
    assert path is not None, name
    mod = Module(name, path.relative_to(root), ast.parse(path.read_text(encoding="utf-8"), str(path)))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in mod.tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            mod.defs[node.name] = node
    typing_only = {id(n) for block in ast.walk(mod.tree) if is_type_checking(block) for n in ast.walk(block)}
    for node in ast.walk(mod.tree):  # every import, at any depth: a function's import runs when called
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                mod.runs.update(with_parents(alias.name))
                if alias.asname:
                    mod.modules[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    mod.modules[top] = top
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from .x import y / from .. import y
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            mod.runs.update(with_parents(base))
            for alias in node.names:
                local, sub = alias.asname or alias.name, f"{base}.{alias.name}"
                if module_file(sub, root):  # `from pipelines import stage`: a submodule
                    mod.runs.add(sub)
                    mod.modules[local] = sub
                elif alias.name != "*":
                    mod.symbols[local] = (base, alias.name)
    mod.runs = {m for m in mod.runs if module_file(m, root)}
    mod.modules = {k: v for k, v in mod.modules.items() if module_file(v, root)}
    mod.symbols = {k: v for k, v in mod.symbols.items() if module_file(v[0], root)}
    return mod


def stage_seeds(name: str, root: Path) -> tuple[list[str], str]:
    """The modules of stage `name` (all files of its package) and the one `python -m` runs."""
    folder = root / "pipelines" / name
    if folder.is_dir():
        mods = [".".join(p.relative_to(root).with_suffix("").parts) for p in sorted(folder.rglob("*.py"))]
        mods = [m.removesuffix(".__init__") for m in mods]
        return mods, f"pipelines.{name}.__main__"
    return [f"pipelines.{name}"], f"pipelines.{name}"


def code_closure(seeds: list[str], root: Path) -> dict[str, str | None]:
    """Every project module the seeds run: module -> the module whose import brought it in."""
    via: dict[str, str | None] = {}
    todo = [(m, None) for s in seeds for m in with_parents(s) if module_file(m, root)]
    while todo:
        name, parent = todo.pop()
        if name in via:
            continue
        via[name] = parent
        todo += [(m, name) for m in sorted(load_module(name, root).runs) if m not in via]
    return via


# ---- what the stage can reach ----

Unit = tuple[str, str | None]  # (module, top-level function or class), or (module, None): module-level code


def unit_nodes(unit: Unit, root: Path) -> list[ast.AST]:
    mod = load_module(unit[0], root)
    if unit[1] is not None:
        return [mod.defs[unit[1]]]
    defs = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    return [s for s in mod.tree.body if not isinstance(s, defs)]


def resolve(module: str, name: str, root: Path, seen: frozenset = frozenset()) -> Unit | None:
    """The top-level function or class `name` means in `module`, following re-exports."""
    if (module, name) in seen or not module_file(module, root):
        return None
    mod = load_module(module, root)
    if name in mod.defs:
        return (module, name)
    if name in mod.symbols:
        return resolve(*mod.symbols[name], root, seen | {(module, name)})
    return None


def references(unit: Unit, root: Path) -> Iterator[Unit]:
    """The project functions and classes a unit names (a call, a callback, a base class...)."""
    mod = load_module(unit[0], root)
    for top in unit_nodes(unit, root):
        parents = {child: node for node in ast.walk(top) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(top):
            if not isinstance(node, ast.Name):
                continue
            if node.id in mod.modules:  # modeling.load_model, voice.convert.ModelInfo
                target, attr = mod.modules[node.id], parents.get(node)
                while isinstance(attr, ast.Attribute) and module_file(f"{target}.{attr.attr}", root):
                    target, attr = f"{target}.{attr.attr}", parents.get(attr)
                if isinstance(attr, ast.Attribute) and (found := resolve(target, attr.attr, root)):
                    yield found
            elif found := resolve(unit[0], node.id, root):
                yield found


def reachable(entry: str, closure: Collection[str], root: Path) -> set[Unit]:
    """Units run by `python -m entry`: module-level code of every module imported, and whatever it
    names, transitively. A class counts whole (its methods are called through instances)."""
    todo: list[Unit] = [(entry, None), *((m, None) for m in closure)]
    seen: set[Unit] = set()
    while todo:
        unit = todo.pop()
        if unit not in seen:
            seen.add(unit)
            todo += [u for u in references(unit, root) if u not in seen]
    return seen


# ---- config reads ----


@dataclass(frozen=True)
class Read:
    path: tuple[str, ...]  # () for the whole config
    where: str  # file:line
    dynamic: str = ""  # the key expression the checker could not resolve, if any


def constant_strings(node: ast.AST, module: Module) -> list[str] | None:
    """The values of a literal tuple/list of strings, or of a module-level name bound to one."""
    if isinstance(node, ast.Name):
        for stmt in module.tree.body:
            if isinstance(stmt, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == node.id for t in stmt.targets
            ):
                return constant_strings(stmt.value, module)
        return None
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        values = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        return values if len(values) == len(node.elts) else None
    return None


def loop_values(name: str, node: ast.AST, parents: dict, module: Module) -> list[str] | None:
    """The strings `name` takes in an enclosing `for name in (...)` loop or comprehension."""
    while node in parents:
        node = parents[node]
        loops = []
        if isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            loops = node.generators
        elif isinstance(node, ast.For):
            loops = [node]
        for loop in loops:
            if isinstance(loop.target, ast.Name) and loop.target.id == name:
                return constant_strings(loop.iter, module)
    return None


def chain(node: ast.AST, parents: dict, module: Module) -> tuple[list[tuple[str, ...]], ast.AST, str]:
    """Follow `node` up through `.a`, `["a"]`, `.get("a")`: the key paths read (more than one for a
    subscript over a loop of constants), the outermost node of the chain, an unresolved key if any."""
    paths: list[tuple[str, ...]] = [()]
    while True:
        up = parents.get(node)
        if isinstance(up, ast.Attribute) and up.value is node:
            call = parents.get(up)
            if up.attr in DICT_METHODS and isinstance(call, ast.Call) and call.func is up:
                key = call.args[0] if up.attr == "get" and call.args else None
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    paths, node = [(*p, key.value) for p in paths], call
                    continue
                return paths, call, ""
            paths, node = [(*p, up.attr) for p in paths], up
        elif isinstance(up, ast.Subscript) and up.value is node and isinstance(up.ctx, ast.Load):
            key = up.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                paths, node = [(*p, key.value) for p in paths], up
            elif isinstance(key, ast.Name) and (values := loop_values(key.id, up, parents, module)):
                paths, node = [(*p, v) for p in paths for v in values], up
            elif isinstance(key, ast.Constant):  # a list index: the node is read
                return paths, up, ""
            else:
                return paths, up, ast.unparse(up)
        else:
            return paths, node, ""


def is_root(node: ast.AST, roots: set[str]) -> bool:
    if isinstance(node, ast.Name):
        return node.id in roots
    return isinstance(node, ast.Attribute) and node.attr in ROOT_NAMES and isinstance(node.value, ast.Name)


@dataclass(frozen=True)
class Passed:
    """A config node passed to a project function: its reads there are the stage's."""

    module: str
    function: ast.FunctionDef
    param: str
    path: tuple[str, ...]  # () for the whole config
    where: str = field(default="", compare=False)  # where the stage's code took the node from cfg


def callee(call: ast.Call, mod: Module, root: Path) -> tuple[str, ast.FunctionDef, int] | None:
    """The project function a call runs (for a class, its __init__) and how many of its leading
    parameters the call does not fill (self)."""
    func, unit = call.func, None
    if isinstance(func, ast.Name):
        unit = resolve(mod.name, func.id, root)
    elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        if func.value.id in mod.modules:  # modeling.load_model(...)
            unit = resolve(mod.modules[func.value.id], func.attr, root)
        elif (cls := resolve(mod.name, func.value.id, root)) and func.attr != "__init__":  # Class.create(...)
            body = load_module(cls[0], root).defs[cls[1]].body
            method = [s for s in body if isinstance(s, ast.FunctionDef) and s.name == func.attr]
            if method:
                decorators = {getattr(d, "id", None) for d in method[0].decorator_list}
                return (cls[0], method[0], int("classmethod" in decorators))
    if unit is None:
        return None
    node = load_module(unit[0], root).defs[unit[1]]
    if isinstance(node, ast.ClassDef):
        init = [s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"]
        return (unit[0], init[0], 1) if init else None
    return (unit[0], node, 0)


def parameter(call: ast.Call, arg: ast.AST, fn: ast.FunctionDef, skip: int) -> str | None:
    """The parameter of `fn` that `arg` of `call` binds."""
    positional = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args)][skip:]
    if arg in call.args:
        i = call.args.index(arg)
        starred = any(isinstance(a, ast.Starred) for a in call.args[:i])
        return positional[i] if i < len(positional) and not starred else None
    names = {*positional, *(a.arg for a in fn.args.kwonlyargs)}
    return next((k.arg for k in call.keywords if k.value is arg and k.arg in names), None)


def config_reads(
    module: str, nodes: list[ast.AST], groups: Collection[str], root: Path, bound: Passed | None = None
) -> Iterator[Read | Passed]:
    """The config some code reads: chains from `cfg` (or, for a function a config node was passed
    to, from that parameter) and from aliases (`c = cfg.face_export`). A node passed to a project
    function is read there (a `Passed`); passed anywhere else or iterated, its whole subtree is read;
    the bare config given to OmegaConf (`to_container(cfg)`) is the whole config."""
    mod = load_module(module, root)
    for top in nodes:
        parents = {child: node for node in ast.walk(top) for child in ast.iter_child_nodes(node)}
        roots = set(ROOT_NAMES) if bound is None else ({bound.param} if not bound.path else set())
        aliases: dict[str, tuple[str, ...]] = {bound.param: bound.path} if bound and bound.path else {}
        for node in ast.walk(top):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                func = node.value.func
                if getattr(func, "attr", getattr(func, "id", None)) in CONFIG_LOADERS:
                    roots |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        alias_nodes: set[ast.AST] = set()  # chains assigned to an alias: read through the alias
        for _ in range(3):  # aliases of aliases (`t = cfg.voice_train; m = t.model`)
            for node in ast.walk(top):
                if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
                    continue
                target = node.targets[0]
                for base in ast.walk(node.value):
                    alias = isinstance(base, ast.Name) and base.id in aliases
                    if not (alias or is_root(base, roots)) or not isinstance(target, ast.Name):
                        continue
                    paths, outer, dynamic = chain(base, parents, mod)
                    path = (*aliases.get(getattr(base, "id", None), ()), *paths[0])
                    if outer is node.value and not dynamic and len(paths) == 1 and path and path[0] in groups:
                        aliases[target.id] = path
                        alias_nodes.add(base)
        for node in ast.walk(top):
            alias = isinstance(node, ast.Name) and node.id in aliases
            if node in alias_nodes or not (alias or is_root(node, roots)):
                continue
            if isinstance(getattr(node, "ctx", None), ast.Store | ast.Del):
                continue
            where = f"{mod.path}:{node.lineno}"
            origin = bound.where if bound and bound.path else where
            if origin != where:
                where = f"{where}, passed from {origin}"
            paths, outer, dynamic = chain(node, parents, mod)
            prefix = aliases[node.id] if alias else ()
            up = parents.get(outer)
            passed = isinstance(up, ast.Call) and outer is not up.func
            passed = passed and isinstance(outer, ast.Name | ast.Attribute | ast.Subscript)
            target = callee(up, mod, root) if passed else None
            param = parameter(up, outer, target[1], target[2]) if target else None
            if not prefix and paths == [()]:  # the config itself
                owner = getattr(up.func, "value", None) if passed else None
                if isinstance(owner, ast.Name) and owner.id == "OmegaConf":
                    key = up.args[1] if up.func.attr == "select" and len(up.args) > 1 else None
                    is_key = isinstance(key, ast.Constant) and isinstance(key.value, str)
                    yield Read(tuple(key.value.split(".")) if is_key else (), where)
                elif param:
                    yield Passed(target[0], target[1], param, ())
                elif dynamic:
                    yield Read((), where, dynamic)  # cfg[name]: which group?
                continue  # `"x" in cfg`, cfg.merge_with(...)
            for path in paths:
                full = (*prefix, *path)
                if not alias and full[0] not in groups:
                    continue  # a parameter named cfg that holds a sub-config: read where it is passed
                yield Passed(target[0], target[1], param, full, origin) if param else Read(full, where)


# ---- the check ----


def leaf_path(params: dict, path: tuple[str, ...]) -> tuple[str, ...]:
    """`path` cut at a value that is not a mapping: what follows is the value's own attributes
    (`atomic_path(cfg.x.output)` then reads `target.parent`), not config keys."""
    node = params
    for i, key in enumerate(path):
        if not isinstance(node, dict):
            return path[:i]
        if key not in node:
            return path
        node = node[key]
    return path


def value_at(params: dict, path: tuple[str, ...]):
    node = params
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def declared_files(stage: dict, params: dict) -> list[str]:
    """deps, outs, metrics and plots, `${group.key}` resolved from params."""
    entries = [e for kind in ("deps", "outs", "metrics", "plots") for e in stage.get(kind, [])]
    files = [(e if isinstance(e, str) else next(iter(e))).rstrip("/") for e in entries]
    expand = lambda m: str(value_at(params, tuple(m[1].split("."))))  # noqa: E731
    return [re.sub(r"\$\{([^}]+)\}", expand, f) for f in files]


def param_paths(stage: dict) -> list[tuple[str, ...]]:
    """`params` entries as key paths; `{params.yaml: [keys]}` entries too (other files are not config)."""
    out = []
    for entry in stage.get("params", []):
        keys = [entry] if isinstance(entry, str) else entry.get("params.yaml", [])
        out += [tuple(k.split(".")) for k in keys]
    return out


def under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(f"{folder}/")


def stage_problems(name: str, stage: dict, params: dict, root: Path = ROOT) -> list[str]:
    """What `stage` reads but does not declare, one line each."""
    match = STAGE_CMD.match(stage["cmd"])
    assert match, f"stage {name}: not a `python -m pipelines.<stage>` command"
    seeds, entry = stage_seeds(match[1], root)
    closure = code_closure(seeds, root)
    files = declared_files(stage, params)
    problems = []
    for module, parent in sorted(closure.items(), key=lambda item: str(load_module(item[0], root).path)):
        mod = load_module(module, root)
        file = mod.path.as_posix()
        if mod.runs_nothing or any(under(file, d) for d in files):
            continue
        via = f" (via {load_module(parent, root).path.as_posix()})" if parent else ""
        problems.append(f"stage {name} reads {file}{via} but does not declare it")

    if name in STAGES_WITHOUT_PARAMS:
        return problems
    groups = {g for g in params if not g.startswith("_")}
    todo: list[tuple[str, list[ast.AST], Passed | None]] = [
        (unit[0], unit_nodes(unit, root), None)
        for unit in reachable(entry, closure, root)
        if unit not in IGNORED_FUNCTIONS
    ]
    seen: set[Passed] = set()
    reads: dict[tuple[str, ...], Read] = {}
    while todo:
        module, nodes, passed = todo.pop()
        for item in config_reads(module, nodes, groups, root, passed):
            if isinstance(item, Read):
                reads.setdefault(leaf_path(params, item.path), item)
            elif item not in seen and (item.module, item.function.name) not in IGNORED_FUNCTIONS:
                seen.add(item)
                todo.append((item.module, [item.function], item))
    declared = param_paths(stage)
    for path, read in sorted(reads.items()):
        if path[:1] in [(g,) for g in IGNORED_GROUPS] or any(path[: len(p)] == p for p in declared):
            continue
        value = value_at(params, path)
        if isinstance(value, str) and any(under(value, f) or under(f, value) for f in files):
            continue  # a path this stage declares as a dep or out (`sft.input`, `base_model.output`)
        if read.dynamic:
            problems.append(
                f"stage {name} reads config {read.dynamic} ({read.where}), a key the checker cannot "
                "resolve: use a literal key or a loop over literal keys"
            )
            continue
        what = f"config {'.'.join(path)}" if path else "the whole config"
        problem = f"stage {name} reads {what} ({read.where}) but its params do not cover it"
        if isinstance(value, str):
            problem += f" (the path {value}: declare it as a dep, or the key as a param)"
        problems.append(problem)
    return problems


def pipeline() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def resolved_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


PYTHON_STAGES = sorted(n for n, s in pipeline().items() if STAGE_CMD.match(s["cmd"]))


@pytest.mark.parametrize("name", PYTHON_STAGES)
def test_stage_declares_the_code_and_config_it_reads(name):
    """A file or setting a stage reads but does not declare lets `dvc repro` keep a stale output."""
    problems = stage_problems(name, pipeline()[name], resolved_params())
    assert not problems, "\n".join(problems)


def test_every_stage_is_checked():
    """A stage run another way (a shell script, `python pipelines/x.py`) would escape the check."""
    assert sorted(pipeline()) == PYTHON_STAGES


def test_a_missing_code_dep_or_param_is_reported():
    """The check can fail: sft as dvc.yaml declared it before this test existed."""
    stale = {
        "cmd": "python -m pipelines.sft --params params.yaml",
        "deps": ["pipelines/sft", "pipelines/modeling.py", "runtime/prompt.py", "data/models/base_model"],
        "params": ["model", "sft"],
    }
    problems = stage_problems("sft", stale, resolved_params())
    assert (
        "stage sft reads runtime/memory.py (via pipelines/sft/__init__.py) but does not declare it"
        in problems
    )
    assert any(p.startswith("stage sft reads config memory.retrieval.max_tokens (") for p in problems)
    assert any(p.startswith("stage sft reads config sft_data (") for p in problems)  # recipe(): cfg[k]
    assert not any("pipelines/modeling.py" in p or "config model" in p for p in problems)


def test_a_sub_config_passed_on_is_read_where_it_is_used():
    """audio_prep hands `cfg.subject` to anonymize's `identify`, which also reads `subject.exclude`;
    anonymize's own settings are not audio_prep's (it never calls `anonymize.run`), nor is the
    consent record (the gate)."""
    stage = {
        **pipeline()["audio_prep"],
        "params": ["audio_prep", "subject.ids", "subject.names", "subject.self"],
    }
    problems = stage_problems("audio_prep", stage, resolved_params())
    assert [p.split(" (")[0] for p in problems] == ["stage audio_prep reads config subject.exclude"]
    assert "pipelines/anonymize/speakers.py:" in problems[0]


def test_a_path_setting_is_covered_by_the_file_it_names():
    """memory reads the private speaker mapping through `anonymize.mapping`: the file must be a dep
    (then the setting needs no param), or DVC misses an edited mapping."""
    memory = pipeline()["memory"]
    assert stage_problems("memory", memory, resolved_params()) == []
    deps = [d for d in memory["deps"] if d != "data/private/speaker_mapping.json"]
    problems = stage_problems("memory", {**memory, "deps": deps}, resolved_params())
    assert [p.split(" (")[0] for p in problems] == ["stage memory reads config anonymize.mapping"]
    assert "the path data/private/speaker_mapping.json: declare it as a dep" in problems[0]


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


TOY = {
    "pipelines/__init__.py": '"""Stages."""\n',
    "pipelines/stage.py": "def load_config(name):\n    return {}\n",
    "pipelines/toy/__init__.py": (
        "from . import helpers\n"
        "from pipelines.shared import unused_here\n"
        "GROUPS = ('extra', 'more')\n"
        "def run(cfg):\n"
        "    c = cfg.toy\n"
        "    helpers.scale(cfg)\n"
        "    kept = {g: cfg[g] for g in GROUPS}\n"
        "    return c.size, cfg.toy.get('mode'), cfg.paths.data, cfg['other']['key'], kept\n"
    ),
    "pipelines/toy/helpers.py": (
        "def scale(cfg):\n    from runtime import maths\n    return maths.double(cfg.numbers.factor)\n"
    ),
    "pipelines/toy/__main__.py": (
        "from typing import TYPE_CHECKING\n"
        "from pipelines import stage\n"
        "from pipelines.toy import run\n"
        "if TYPE_CHECKING:\n"
        "    from pipelines import annotations_only\n"
        "def main():\n"
        "    cfg = stage.load_config('toy')\n"
        "    run(cfg)\n"
        "if __name__ == '__main__':\n"
        "    main()\n"
    ),
    "pipelines/shared.py": "def unused_here(cfg):\n    return cfg.never.read\n",
    "pipelines/annotations_only.py": "import torch\n",
    "runtime/__init__.py": "",
    "runtime/maths.py": "def double(x):\n    return 2 * x\n",
}
TOY_PARAMS = {g: {} for g in ("paths", "toy", "numbers", "other", "extra", "more", "never")}


def test_closure_follows_relative_and_function_level_imports(tmp_path):
    """`from . import helpers` and an import inside a function are code the stage runs; a module
    imported but never called (shared.py) is code, but its config reads are not the stage's; one
    imported under `if TYPE_CHECKING:` (annotations_only.py) is not code the stage runs."""
    toy = {"cmd": "python -m pipelines.toy", "deps": ["pipelines/toy"], "params": ["toy"]}
    problems = stage_problems("toy", toy, TOY_PARAMS, write(tmp_path, TOY))
    assert problems == [
        "stage toy reads pipelines/shared.py (via pipelines/toy/__init__.py) but does not declare it",
        "stage toy reads pipelines/stage.py (via pipelines/toy/__main__.py) but does not declare it",
        "stage toy reads runtime/maths.py (via pipelines/toy/helpers.py) but does not declare it",
        "stage toy reads config extra (pipelines/toy/__init__.py:7) but its params do not cover it",
        "stage toy reads config more (pipelines/toy/__init__.py:7) but its params do not cover it",
        "stage toy reads config numbers.factor (runtime/maths.py:2, passed from pipelines/toy/helpers.py:3) "
        "but its params do not cover it",
        "stage toy reads config other.key (pipelines/toy/__init__.py:8) but its params do not cover it",
    ]
    declared = {
        **toy,
        "deps": ["pipelines/toy", "pipelines/shared.py", "pipelines/stage.py", "runtime"],
        "params": ["toy", "numbers", "other.key", "extra", "more"],
    }
    assert stage_problems("toy", declared, TOY_PARAMS, tmp_path) == []


def test_a_param_covers_its_subtree_only(tmp_path):
    """`other.key.deeper` does not cover `other.key` read whole, nor `toy.size` its sibling `toy.mode`."""
    toy = {
        "cmd": "python -m pipelines.toy",
        "deps": ["pipelines", "runtime"],
        "params": ["toy.size", "numbers", "other.key.deeper", "extra", "more"],
    }
    problems = stage_problems("toy", toy, TOY_PARAMS, write(tmp_path, TOY))
    assert [p.split(" (")[0] for p in problems] == [
        "stage toy reads config other.key",
        "stage toy reads config toy.mode",
    ]
