"""The import graph of docs/architecture.md, checked from the source with `ast`.

Layers, lowest first: data -> scenes -> generators -> poses -> adapt / export / gap -> scenefit
-> evaluate -> pipeline -> cli (the list of folders read as the data flow: poses from photos
need renders; adaptation needs poses for aligned pairs; a scene fit uses the camera fit; the
evaluation may use a scene fit's plates).
A module may import its own package and any lower layer. An import of a higher layer fails;
an import of another package of the same layer fails unless `SIDEWAYS` declares that edge
with its reason. Lazy imports inside functions count as much as top-level ones: they couple
the rooms the same way.

Inside `generators/` the same rule holds between its rooms (`ROOMS`), lowest first: params ->
look / defects / camera -> parts -> sampling / gl -> real -> run (a scene's parts, how they
look, sampled into `SampleParams`, drawn by the GL layer, pinned to real photos, run into a
dataset directory).
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "synthgap"

#: package (first name under `synthgap.`) -> layer, lowest first
LAYERS = {"data": 0, "scenes": 1, "generators": 2, "poses": 3, "adapt": 4, "export": 4,
          "gap": 4, "scenefit": 5, "tune": 5, "evaluate": 6, "pipeline": 7, "cli": 8,
          "__main__": 9}

#: rooms of `generators/` (second name under `synthgap.generators.`) -> layer, lowest first
ROOMS = {"params": 0, "look": 1, "defects": 1, "camera": 1, "parts": 2, "sampling": 3, "gl": 3,
         "real": 4, "run": 5}

#: Declared imports between packages of the same layer: (importer, imported) -> why.
SIDEWAYS = {
    ("adapt", "gap"): "adapt.strength chooses an adapter's strength with the gap metric's "
                      "patch features and MMD (gap never imports adapt)",
    ("tune", "scenefit"): "tune.frames puts photos on scenefit's support plane (one plane "
                          "estimate; scenefit never imports tune)",
}

#: Upward imports the code has today (module, imported module). Do not add to this list:
#: move the shared code down a layer instead.
KNOWN_UPWARD = {
    # SynthgapDataset reads exports back through the exporters' registry and reuses the
    # export split rule; it belongs with export (or a layer above) once data/ is split.
    ("synthgap.data.torch_dataset", "synthgap.export"),
    ("synthgap.data.torch_dataset", "synthgap.export.base"),
    ("synthgap.data.torch_dataset", "synthgap.export.objects"),
    ("synthgap.data.torch_dataset", "synthgap.export.source"),
    ("synthgap.data.torch_dataset", "synthgap.export.splits"),
}

#: Private names imported from another module today (module, imported module, name): none.
#: Make the helper public in the module that owns it instead of adding here.
KNOWN_PRIVATE: set[tuple[str, str, str]] = set()


#: STYLE.md: functions < 80 lines (from `def` to the last line of the body, decorators not
#: counted).
MAX_FUNCTION_LINES = 80

#: Functions over the limit today (path under synthgap/ : qualified name). Do not add to
#: this list: split the function. The integrator empties it when the two branches merge.
LONG_FUNCTIONS: set[str] = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(module: str) -> str | None:
    """`synthgap.export.coco` -> `export`; None for the top-level `synthgap` module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _room(module: str, names: tuple[str, ...] = ()) -> str | None:
    """`synthgap.generators.gl.renderer` -> `gl`; for `from synthgap.generators import gl`
    (module `synthgap.generators`, names) the imported room; None outside the rooms."""
    parts = module.split(".")
    if parts[:2] != ["synthgap", "generators"]:
        return None
    if len(parts) > 2:
        return parts[2]
    return names[0] if len(names) == 1 else None


def _check_layers(where: str, src: str, dst: str, layers: dict[str, int], what: str,
                  module: str, target: str) -> str | None:
    """The error of one import of `dst` by `src` (packages, or rooms of generators/)."""
    if src not in layers or dst not in layers:
        return (f"{where}: {what} {src if src not in layers else dst} has no layer; add it to "
                f"{'LAYERS' if what == 'package' else 'ROOMS'} and docs/architecture.md")
    if layers[dst] > layers[src]:
        if (module, target) not in KNOWN_UPWARD:
            return f"{where}: {dst} is above {src}; move the shared code down a layer"
    elif layers[dst] == layers[src] and (src, dst) not in SIDEWAYS:
        return (f"{where}: {src} and {dst} are one layer; move the shared code down, or "
                "declare the edge in SIDEWAYS with its reason (and in docs/architecture.md)")
    return None


def imports(source: str, package: str) -> list[tuple[str, tuple[str, ...], int]]:
    """Every `synthgap` import in `source`: (imported module, names, line). Relative imports
    are resolved against `package` (the module's own package)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(a.name, (), node.lineno) for a in node.names
                    if a.name.split(".")[0] == "synthgap"]
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:
                parts = package.split(".")
                base = parts[:len(parts) - node.level + 1]
                name = ".".join([*base, name] if name else base)
            if name.split(".")[0] == "synthgap":
                out.append((name, tuple(a.name for a in node.names), node.lineno))
    return out


def violations(root: Path = PACKAGE) -> tuple[list[str], list[str]]:
    """(layer violations, private-name imports) of the package under `root`."""
    layer_errors, private_errors = [], []
    for path in sorted(root.rglob("*.py")):
        module = _module_name(path) if root == PACKAGE else \
            "synthgap." + ".".join(path.relative_to(root).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        src = _package(module)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for target, names, line in imports(path.read_text(encoding="utf-8"), package):
            where = f"{path}:{line}: {module} imports {target}"
            dst = _package(target)
            if dst is None:  # the top-level facade: only its version string
                if set(names) - {"__version__"}:
                    layer_errors.append(f"{where} {names}: import from the owning package, "
                                        "not the top-level facade")
            elif src is not None and dst != src:
                if error := _check_layers(where, src, dst, LAYERS, "package", module, target):
                    layer_errors.append(error)
            elif src == dst == "generators":
                room, other = _room(module), _room(target, names)
                if room is not None and other is not None and room != other and \
                        (error := _check_layers(where, room, other, ROOMS, "room of generators",
                                                module, target)):
                    layer_errors.append(error)
            if target != module:
                for name in names:
                    if name.startswith("_") and not name.startswith("__") and \
                            (module, target, name) not in KNOWN_PRIVATE:
                        private_errors.append(f"{where}.{name}: a private helper used outside "
                                              "its module; make it public where it lives")
    return layer_errors, private_errors


def test_imports_go_one_way():
    layer_errors, _ = violations()
    assert not layer_errors, "\n".join(layer_errors)


def test_no_private_helpers_across_modules():
    _, private_errors = violations()
    assert not private_errors, "\n".join(private_errors)


def test_every_package_has_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(LAYERS), sorted(packages - set(LAYERS))


def test_every_room_of_generators_has_a_layer():
    # the floor plan of docs/architecture.md: sub-packages, plus `params` (the contract
    # between sampling and the renderer) and the package's own __init__
    rooms = {p.name if p.is_dir() else p.stem for p in (PACKAGE / "generators").iterdir()
             if (p / "__init__.py").exists() or (p.suffix == ".py" and p.stem != "__init__")}
    assert rooms == set(ROOMS), sorted(rooms ^ set(ROOMS))


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "synthgap"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.parametrize(("files", "found"), [
    ({"data/x.py": "from synthgap.export import coco\n"}, "export is above data"),
    ({"scenes/x.py": "def f():\n    import synthgap.pipeline.run\n"}, "pipeline is above scenes"),
    ({"export/x.py": "from synthgap.gap.metric import measure_gap\n"}, "one layer"),
    ({"poses/x.py": "from synthgap.adapt.camera import CameraModel\n"}, "adapt is above poses"),
    ({"generators/x.py": "def f():\n    from synthgap.poses import aligner\n"},
     "poses is above generators"),
    ({"cli/x.py": "from synthgap import load_scene\n"}, "top-level facade"),
    ({"generators/look/x.py": "from synthgap.generators.gl.renderer import Renderer\n"},
     "gl is above look"),
    ({"generators/parts/x.py": "def f():\n    from synthgap.generators import run\n"},
     "run is above parts"),
    ({"generators/gl/x.py": "from synthgap.generators.sampling.sample import sample\n"},
     "gl and sampling are one layer"),
    ({"generators/kitchen/x.py": "from synthgap.generators.params import vec\n"},
     "room of generators kitchen has no layer"),
    ({"nova/x.py": "from synthgap.data import Record\n"}, "has no layer"),
])
def test_checker_catches_bad_imports(tmp_path, files, found):
    errors, _ = violations(_tree(tmp_path, files))
    assert len(errors) == 1 and found in errors[0], errors


def test_checker_accepts_good_imports_and_finds_private_ones(tmp_path):
    root = _tree(tmp_path, {
        "cli/x.py": "from synthgap.export import coco\nfrom synthgap import __version__\n",
        "adapt/w.py": "from synthgap.poses.aligner import Aligner\n",
        "poses/v.py": "from synthgap.generators.gl.renderer import Renderer\n",
        "pipeline/y.py": "from synthgap.scenes.io import load_scene\nfrom . import z\n",
        "pipeline/__init__.py": "from .y import load_scene\nfrom ..data import layout\n",
        "export/z.py": "from synthgap.data.layout import _blank_png\n",
        "generators/run/r.py": "from synthgap.generators.gl import renderer\n",
        "generators/gl/g.py": "from synthgap.generators.params import vec\n"})
    errors, private = violations(root)
    assert errors == []
    assert len(private) == 1 and "_blank_png" in private[0]


def gl_importers(root: Path = PACKAGE, packages: tuple[str, ...] = ("pyrender", "OpenGL")
                 ) -> list[str]:
    """Modules under `root` that import one of `packages` (at any depth of the module)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            if any(n.split(".")[0] in packages for n in names):
                found.append(path.relative_to(root).as_posix())
                break
    return found


def test_only_the_gl_layer_imports_pyrender_or_opengl():
    # DESIGN.md: one place turns a sampled scene into pixels; the GL layer is the
    # generators/gl/pyrender_compat package (split from one 651-line module), which the renderer
    # calls; scene, sampling, adapt ... code never touches GL
    outside = [m for m in gl_importers() if not m.startswith("generators/gl/pyrender_compat/")]
    assert gl_importers(), "the GL layer was not found: the checker is broken"
    assert not outside, outside
    # DESIGN.md: one module imports pyrender; the package's others ask `core.get_pyrender`
    assert gl_importers(packages=("pyrender",)) == ["generators/gl/pyrender_compat/core.py"]


def test_gl_checker_finds_an_import_inside_a_function(tmp_path):
    (tmp_path / "scenes").mkdir()
    (tmp_path / "scenes" / "x.py").write_text("def f():\n    from OpenGL import GL\n")
    assert gl_importers(tmp_path) == ["scenes/x.py"]


def long_functions(root: Path = PACKAGE,
                   limit: int = MAX_FUNCTION_LINES) -> dict[str, int]:
    """`path:qualified.name` -> lines of every function under `root` longer than `limit`."""
    found = {}

    def visit(node: ast.AST, prefix: str, rel: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    lines = (child.end_lineno or child.lineno) - child.lineno + 1
                    if lines > limit:
                        found[f"{rel}:{name}"] = lines
                visit(child, name + ".", rel)
            else:
                visit(child, prefix, rel)

    for path in sorted(root.rglob("*.py")):
        visit(ast.parse(path.read_text(encoding="utf-8")), "", path.relative_to(root).as_posix())
    return found


def test_functions_fit_on_a_screen():
    found = long_functions()
    new = {k: v for k, v in found.items() if k not in LONG_FUNCTIONS}
    assert not new, (f"functions over {MAX_FUNCTION_LINES} lines (split them): {new}")
    gone = LONG_FUNCTIONS - set(found)
    assert not gone, f"no longer over the limit: remove {sorted(gone)} from LONG_FUNCTIONS"


def test_long_function_checker(tmp_path):
    body = "".join(f"x{i} = {i}\n" for i in range(79))  # 79 lines: with the def, 80

    def fn(name: str, extra: str = "", indent: int = 0) -> str:
        return textwrap.indent(f"def {name}():\n{textwrap.indent(body + extra, '    ')}",
                               " " * indent)

    (tmp_path / "m.py").write_text(
        fn("ok") + "class C:\n" + fn("long", "return 1\n", 4) +
        "def outer():\n" + fn("inner", "return 2\n", 4) + "    return inner\n")
    found = long_functions(tmp_path)
    assert found == {"m.py:C.long": 81, "m.py:outer": 83, "m.py:outer.inner": 81}, found
