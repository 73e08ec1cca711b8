"""The import graph of docs/architecture.md, checked from the source with `ast`.

Layers, lowest first: data -> scenes -> generators -> poses -> adapt / export / gap -> scenefit
-> evaluate -> pipeline -> cli (the list of folders read as the data flow: poses from photos
need renders; adaptation needs poses for aligned pairs; a scene fit uses the camera fit; the
evaluation may use a scene fit's plates).
A module may import its own package and any lower layer. An import of a higher layer fails;
an import of another package of the same layer fails unless `SIDEWAYS` declares that edge
with its reason. Lazy imports inside functions count as much as top-level ones: they couple
the rooms the same way.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "synthgap"

#: package (first name under `synthgap.`) -> layer, lowest first
LAYERS = {"data": 0, "scenes": 1, "generators": 2, "poses": 3, "adapt": 4, "export": 4,
          "gap": 4, "scenefit": 5, "tune": 5, "evaluate": 6, "pipeline": 7, "cli": 8,
          "__main__": 9}

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

#: Private names imported from another module today (module, imported module, name). Make
#: the helper public in the module that owns it instead of adding here.
KNOWN_PRIVATE = {
    ("synthgap.generators.preflight", "synthgap.generators.distortion", "_render_view"),
    ("synthgap.generators.views", "synthgap.generators.sampling", "_material"),
    ("synthgap.generators.views", "synthgap.generators.sampling", "_sample_background"),
    ("synthgap.generators.views", "synthgap.generators.sampling", "_sample_lights"),
    ("synthgap.generators.views", "synthgap.generators.sampling", "_sample_sensor"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(module: str) -> str | None:
    """`synthgap.export.coco` -> `export`; None for the top-level `synthgap` module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


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
                if src not in LAYERS or dst not in LAYERS:
                    layer_errors.append(f"{where}: package {src if src not in LAYERS else dst}"
                                        " has no layer; add it to LAYERS and "
                                        "docs/architecture.md")
                elif LAYERS[dst] > LAYERS[src]:
                    if (module, target) not in KNOWN_UPWARD:
                        layer_errors.append(f"{where}: {dst} is above {src}; move the shared "
                                            "code down a layer")
                elif LAYERS[dst] == LAYERS[src] and (src, dst) not in SIDEWAYS:
                    layer_errors.append(f"{where}: {src} and {dst} are one layer; move the "
                                        "shared code down, or declare the edge in SIDEWAYS "
                                        "with its reason (and in docs/architecture.md)")
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
    ({"nova/x.py": "from synthgap.data import Record\n"}, "has no layer"),
])
def test_checker_catches_bad_imports(tmp_path, files, found):
    errors, _ = violations(_tree(tmp_path, files))
    assert len(errors) == 1 and found in errors[0], errors


def test_checker_accepts_good_imports_and_finds_private_ones(tmp_path):
    root = _tree(tmp_path, {
        "cli/x.py": "from synthgap.export import coco\nfrom synthgap import __version__\n",
        "adapt/w.py": "from synthgap.poses.aligner import Aligner\n",
        "poses/v.py": "from synthgap.generators.renderer import Renderer\n",
        "pipeline/y.py": "from synthgap.scenes.io import load_scene\nfrom . import z\n",
        "pipeline/__init__.py": "from .y import load_scene\nfrom ..data import layout\n",
        "export/z.py": "from synthgap.data.layout import _blank_png\n"})
    errors, private = violations(root)
    assert errors == []
    assert len(private) == 1 and "_blank_png" in private[0]


def gl_importers(root: Path = PACKAGE) -> list[str]:
    """Modules under `root` that import pyrender or OpenGL (at any depth of the module)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            if any(n.split(".")[0] in ("pyrender", "OpenGL") for n in names):
                found.append(path.relative_to(root).as_posix())
                break
    return found


def test_only_the_gl_layer_imports_pyrender_or_opengl():
    # DESIGN.md: one place turns a sampled scene into pixels; the GL layer is the
    # generators/pyrender_compat package (split from one 651-line module), which the renderer
    # calls; scene, sampling, adapt ... code never touches GL
    outside = [m for m in gl_importers() if not m.startswith("generators/pyrender_compat/")]
    assert gl_importers(), "the GL layer was not found: the checker is broken"
    assert not outside, outside


def test_gl_checker_finds_an_import_inside_a_function(tmp_path):
    (tmp_path / "scenes").mkdir()
    (tmp_path / "scenes" / "x.py").write_text("def f():\n    from OpenGL import GL\n")
    assert gl_importers(tmp_path) == ["scenes/x.py"]
