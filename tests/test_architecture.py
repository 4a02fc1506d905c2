"""The package's shape (issue 11): layers import only the layers before them, no module imports
another in a cycle, h5py lives in one module, and the public API keeps its signatures."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import intake_nwb

PACKAGE = Path(intake_nwb.__file__).parent
#: the flow of data, first to last; a module may import its own layer and those before it
LAYERS = [
    ("_version", "errors", "config", "util", "conventions"),
    ("sources",),
    ("refs",),
    ("store",),
    ("nwb",),
    ("frames",),
    ("catalog", "sample"),
    ("dandi",),
    ("intake", "cli", "__init__", "__main__"),
]


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def _module(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1] if len(parts) > 1 else parts
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """Every intake_nwb module and the intake_nwb modules it imports (at any depth of code)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module(path)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("intake_nwb")}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - node.level + 1]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                if target.startswith("intake_nwb"):
                    if node.module:  # "from .x import y": x, and y if it is a module
                        found.add(target)
                    found |= {f"{target}.{a.name}" for a in node.names}
        graph[name] = {m for m in found if m != name}
    modules = set(graph)
    return {m: {t for t in deps if t in modules} for m, deps in graph.items()}


def test_layers_import_only_layers_before_them() -> None:
    wrong = [f"{m} (layer {_layer(m)}) imports {t} (layer {_layer(t)})"
             for m, deps in _imports().items() for t in deps
             if _layer(t) > _layer(m) and m != "intake_nwb"]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles() -> None:
    graph = {m: {t for t in deps if t != "intake_nwb"} for m, deps in _imports().items()}
    graph = {m: {t for t in deps if not m.startswith(t + ".")} for m, deps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in graph[m]:
            if state.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_h5py_only_in_the_refs_layer() -> None:
    """Above the references nothing knows HDF5 exists (the sample-lab writer writes files)."""
    users = sorted(_module(p) for p in PACKAGE.rglob("*.py")
                   if any(isinstance(n, (ast.Import, ast.ImportFrom)) and (
                       any(a.name.split(".")[0] == "h5py" for a in n.names)
                       if isinstance(n, ast.Import) else (n.module or "").startswith("h5py"))
                          for n in ast.walk(ast.parse(p.read_text()))))
    assert users and all(u.startswith("intake_nwb.refs.") or u == "intake_nwb.sample"
                         for u in users), users


def test_public_names_and_signatures() -> None:
    assert set(intake_nwb.__all__) == {"__version__", *intake_nwb._EXPORTS}
    for name in intake_nwb.__all__:
        obj = getattr(intake_nwb, name)
        assert obj is not None and (obj.__doc__ or name == "__version__"), name
    for name, params in SIGNATURES.items():
        got = list(inspect.signature(getattr(intake_nwb, name)).parameters)
        assert got[:len(params)] == params, f"{name}{got}"


#: the leading parameters of the public functions, as released: they may gain keyword-only
#: parameters, never lose or reorder these
SIGNATURES = {
    "index": ["sources", "refs_dir", "storage_options", "inline_threshold", "subchunk_bytes",
              "executor", "progress", "errors", "strict", "overwrite"],
    "scan_nwb": ["sources", "table_path", "infer_schema_length", "schema_overrides",
                 "exclude_array_columns", "errors", "resolve_regions"],
    "get_df": ["sources", "table_path", "include_column_names", "exclude_column_names",
               "exclude_array_columns", "as_pandas"],
    "get_metadata_df": ["sources"],
    "get_timeseries": ["source", "path"],
    "get_timeseries_dataset": ["source", "group_path"],
    "open_nwb": ["source"],
    "open_store": ["source"],
    "build_catalog": ["sources", "path", "refs_dir", "name", "description",
                      "storage_options", "progress", "errors"],
    "dandi_catalog": ["dandiset_id", "version", "path"],
    "get_dandi_sources": ["dandiset_id", "version"],
}
