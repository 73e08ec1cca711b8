"""The job file of `synthgap run`: what to render, how to adapt it, what to export.

A job file (YAML, read with `safe_load`)::

    scene: preset:turntable        # a scene file (relative to this file), preset:NAME, or default
    images: 200                    # images to render
    seed: 7                        # render seed (and split seed)
    size: [320, 240]               # optional [width, height] override of the scene's image size
    workers: 2                     # render processes
    real_photos: photos/           # folder of real photos of the line (needed to adapt)
    adapt:
      method: pda                  # pda | camera | conv-smcae | patch-smcae | histogram | fda
                                   # | a chain a+b | none
      pairing: null                # smcae methods: nearest (default) | aligned | class
      max_images: 64               # fit on at most this many renders / photos
      options: {}                  # extra settings of the method
    export: [coco, yolo]           # any of coco, yolo, yolo-seg, folders, webdataset
    split: 0.8,0.1,0.1             # train,val,test
    preview: {n: 16, tile_width: 320}
    gap: true                      # measure the synthetic gap before/after adaptation
    output: out/                   # output folder (relative to this file)

Every field is checked; an error names the file and the field path, what was expected and
what was found (`job.yaml: adapt.method: expected one of ..., got 'smca' (did you mean
'smcae'?)`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from synthgap.scenes.errors import suggest, yaml_problem
from synthgap.scenes.limits import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_IMAGES,
    check_plain_data,
    image_size_problem,
    short_repr,
)

#: Adaptation methods a job may name (`none` skips adaptation); chains `a+b` of the others too.
ADAPT_METHODS = ("patch-smcae", "conv-smcae", "histogram", "fda", "pda", "camera", "none",
                 "smcae")  # smcae: the old name of patch-smcae (deprecated)
#: Export formats a job may name.
EXPORT_FORMATS = ("coco", "yolo", "yolo-seg", "folders", "webdataset")


class JobError(ValueError):
    """A job file is invalid.

    Attributes:
        file: the job file (or `<dict>`).
        problems: `(field path, message)` pairs.
    """

    def __init__(self, file: str, problems: list[tuple[str, str]]) -> None:
        self.file = file
        self.problems = problems
        super().__init__("\n".join(f"{file}: {p}: {m}" if p else f"{file}: {m}"
                                   for p, m in problems))


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AdaptJob(_Model):
    """How renders are adapted to the real camera."""

    method: str = "pda"
    """Adapter as `synthgap adapt fit --method` spells it (`smcae`, `conv-smcae`, `histogram`,
    `fda`, `pda`, `camera`, or a chain such as `camera+conv-smcae`); `none`: export the raw
    renders."""

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        from synthgap.adapt.image_base import RENAMED_METHODS, canonical_method

        names = v.split("+")
        for name in names:
            if name not in ADAPT_METHODS or (name == "none" and len(names) > 1):
                shown = [m for m in ADAPT_METHODS if m not in RENAMED_METHODS]
                hint = _suggest(name, ADAPT_METHODS)
                raise ValueError(f"expected one of {shown} or a chain such as "
                                 f"camera+conv-smcae, got {name!r}{hint}")
        return "+".join(canonical_method(n) for n in names)
    pairing: Literal["nearest", "aligned", "class"] | None = None
    """Patch pairing of the SMCAE methods (None: the method's default, `nearest`)."""
    max_images: int | None = Field(64, ge=2)
    """Fit on at most this many renders and photos (the first by name); None: all."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Extra settings passed to the adapter (e.g. `epochs`)."""


class PreviewJob(_Model):
    """The contact sheet of the report."""

    n: int = Field(16, ge=1, le=256)
    """Images on the sheet."""
    tile_width: int = Field(320, ge=32, le=4096)
    """Width of each tile in pixels."""


class Job(_Model):
    """A whole job: render -> adapt -> export -> report. Paths are absolute once loaded."""

    scene: str = "default"
    """Scene file path, `preset:NAME`, or `default` (the built-in procedural metal part)."""
    images: int = Field(ge=1, le=MAX_IMAGES)
    """Number of images to render."""
    seed: int | None = Field(None, ge=0)
    """Render seed (>= 0); also the split and fit seed. Not given: the scene's own `seed:`
    (filled in by `parse_job`)."""
    size: tuple[int, int] | None = None
    """Optional `[width, height]` overriding the scene's image size."""
    workers: int = Field(1, ge=1, le=256)
    """Render processes."""
    real_photos: str | None = None
    """Folder of real photos (required unless `adapt.method` is `none`)."""
    adapt: AdaptJob = Field(default_factory=AdaptJob)
    """Adaptation settings."""
    export: tuple[Literal["coco", "yolo", "yolo-seg", "folders", "webdataset", "bop"], ...] = (
        "coco", "yolo")
    """Export formats, each written to `output/export/<format>/`."""
    split: str = "0.8,0.1,0.1"
    """train,val,test fractions of the exports."""
    preview: PreviewJob = Field(default_factory=PreviewJob)
    """Contact sheet settings."""
    gap: bool = True
    """Measure the synthetic gap (raw and adapted renders vs the real photos)."""
    gap_holdout: float = Field(0.25, ge=0.0, lt=1.0)
    """Share of the real photos kept out of the fit (every k-th by name, k = round(1 / share))
    so the gap is measured on photos the adapter never saw, with renders it was not fitted on.
    0 (or fewer than 4 photos, or `class`/`aligned` pairing): the gap is measured on the fitting
    photos, and the report says so."""
    output: str
    """Output folder."""

    @field_validator("size")
    @classmethod
    def _size(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and (bad := image_size_problem(*v)):
            raise ValueError(f"expected [width, height] in pixels: {bad}")
        return v

    @field_validator("split", mode="before")
    @classmethod
    def _split_list(cls, v: Any) -> Any:
        if isinstance(v, list | tuple):  # [0.8, 0.1, 0.1] is fine too
            return ",".join(str(x) for x in v)
        return v

    @field_validator("split")
    @classmethod
    def _split(cls, v: str) -> str:
        from synthgap.export.splits import parse_split

        parse_split(v)
        return v

    @field_validator("export")
    @classmethod
    def _export(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"each format once, got {list(v)}")
        return v


def _suggest(word: Any, options: tuple[str, ...] | list[str]) -> str:
    hit = suggest(str(word), options)
    return f" (did you mean {hit!r}?)" if hit else ""


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        loc = ""
        for part in err["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        got = short_repr(err.get("input"))  # never the repr of a huge (alias-expanded) value
        kind = err["type"]
        if kind == "extra_forbidden":
            fields = _fields_at(err["loc"][:-1])
            msg = f"unknown field{_suggest(err['loc'][-1], fields)}; fields here: " \
                  f"{', '.join(fields)}"
        elif kind == "missing":
            msg = "required field is missing"
        elif kind in ("literal_error", "enum"):
            expected = err.get("ctx", {}).get("expected", "")
            options = [o.strip().strip("'") for o in expected.replace(" or ", ",").split(",")]
            msg = f"expected one of {expected}, got {got}{_suggest(got.strip(chr(39)), options)}"
        else:
            text = err["msg"].removeprefix("Value error, ").replace("Input should be",
                                                                    "expected")
            msg = f"{text}, got {got}" if ", got" not in text else text
        out.append((loc, msg))
    return out


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Job
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None or not (isinstance(field.annotation, type) and
                                 issubclass(field.annotation, BaseModel)):
            return sorted(model.model_fields)
        model = field.annotation
    return sorted(model.model_fields)


def _check_adapt_options(adapt: AdaptJob, source: str) -> None:
    """Raise JobError for an option the chosen method does not take or a bad option value."""
    from synthgap.adapt.image_base import (
        adapter_options,
        make_image_adapter,
        unknown_option_message,
    )

    if adapt.method == "none":
        if adapt.options:
            raise JobError(source, [("adapt.options", "method none adapts nothing and takes no "
                                                      "options; remove adapt.options")])
        return
    valid = adapter_options(adapt.method)
    bad = [(f"adapt.options.{k}", unknown_option_message(adapt.method, k))
           for k in adapt.options if k not in valid]
    if bad:
        raise JobError(source, bad)
    try:  # the values: the config's own checks, before anything is rendered
        make_image_adapter(adapt.method, pairing=adapt.pairing, options=adapt.options)
    except (ValueError, TypeError) as e:
        where = "adapt.pairing" if str(e).startswith("pairing") else "adapt.options"
        raise JobError(source, [(where, str(e))]) from None


def parse_job(data: Any, *, base_dir: Path | str, source: str = "<dict>") -> Job:
    """Validate a job given as plain data; resolve its paths against `base_dir`.

    Raises:
        JobError: naming `source` and the field path of every problem.
    """
    if not isinstance(data, dict):
        raise JobError(source, [("", "expected a mapping of job fields (scene, images, "
                                     f"output, ...), got {type(data).__name__}")])
    if too_big := check_plain_data(data):  # before anything expands or prints the data
        raise JobError(source, [("", too_big)])
    try:
        job = Job.model_validate(data)
    except ValidationError as exc:
        raise JobError(source, _problems(exc)) from None
    _check_adapt_options(job.adapt, source)
    base = Path(base_dir)

    def resolve(p: str | None) -> str | None:
        return None if p is None else str((base / Path(p).expanduser()).resolve())

    scene = job.scene
    if scene != "default" and not scene.startswith("preset:"):
        scene = resolve(scene)  # type: ignore[assignment]  # a str in, a str out
        if not Path(scene).is_file():
            raise JobError(source, [("scene", f"scene file {scene} not found; give a scene "
                                              "file path, preset:NAME or default")])
    if job.adapt.pairing == "aligned" and (scene == "default" or scene.startswith("preset:")):
        raise JobError(source, [("adapt.pairing", "aligned pairs come from a scene file's "
                                                  "real_views; give `scene:` as a file with "
                                                  "real_views, or use pairing: nearest")])
    photos = resolve(job.real_photos)
    if job.seed is None or job.adapt.pairing == "aligned":
        from synthgap.scenes import SceneError, default_scene, load_scene

        try:
            loaded = default_scene() if scene == "default" else load_scene(scene)
        except SceneError as exc:
            raise JobError(source, [("scene", str(exc).replace("\n", "; "))]) from None
        if job.adapt.pairing == "aligned" and not loaded.real_views:
            raise JobError(source, [("adapt.pairing", f"aligned pairs come from the scene's "
                                                      f"real_views, and {scene} has none; add "
                                                      "real_views or use pairing: nearest")])
        if job.seed is None:  # the scene's own seed
            job = job.model_copy(update={"seed": loaded.seed})
    if job.adapt.pairing == "class" and photos is not None and Path(photos).is_dir():
        if not any(p.is_dir() and not p.name.startswith(".") for p in Path(photos).iterdir()):
            raise JobError(source, [("adapt.pairing", f"class pairing needs real_photos with "
                                                      f"one sub-folder per part class "
                                                      f"({photos}/<class>/*.png), found none")])
    if job.adapt.method != "none":
        if photos is None:
            raise JobError(source, [("real_photos", "required to adapt (adapt.method is "
                                                    f"{job.adapt.method!r}); give a folder of "
                                                    "real photos, or set adapt.method: none")])
        if not Path(photos).is_dir():
            raise JobError(source, [("real_photos", f"folder {photos} not found")])
    elif job.gap and photos is None:
        job = job.model_copy(update={"gap": False})
    return job.model_copy(update={"scene": scene, "real_photos": photos,
                                  "output": resolve(job.output)})


def load_job(path: Path | str) -> Job:
    """Read and validate a job file (YAML, `safe_load`); paths resolve against its folder.

    Raises:
        JobError: the file is missing, not YAML, or not a valid job (names file and field).
    """
    path = Path(path)
    if not path.is_file():
        raise JobError(str(path), [("", "job file not found")])
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise JobError(str(path), [("", f"the file is {size / 1e6:.1f} MB; job files are "
                                            f"limited to {MAX_FILE_BYTES >> 20} MB")])
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise JobError(str(path), [("", f"cannot read the file ({exc})")]) from None
    except RecursionError:
        raise JobError(str(path), [("", f"lists or mappings nested too deeply (more than "
                                        f"{MAX_DEPTH} levels)")]) from None
    except yaml.YAMLError as exc:
        raise JobError(str(path), [("", yaml_problem(exc))]) from None
    return parse_job(data, base_dir=path.resolve().parent, source=str(path))
