"""Render a dataset: indices -> sample -> render -> annotate -> sensor + PNG files -> record.

In one process the main thread samples and renders (GL) image i while a small pool of writer
threads, at a lower priority, annotates the images before it, applies sensor effects and
encodes their PNGs (NumPy and OpenCV release the GIL). `workers > 1` starts that many `spawn`
processes (never `fork`: a forked GL context hangs), each with its own renderer, rendering
every `workers`-th index still to do; the parent appends their records and drives the
progress bar. `backend="ray"` runs contiguous ranges of indices as Ray tasks instead
(`synthgap.generators.run.ray_backend`), their records appended here in the same way. Image i
depends only on (scene, seed, i), so every worker count and order gives byte-identical files.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue as queue_mod
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import trimesh

from synthgap.data import DatasetLayout, Record
from synthgap.generators.camera.sensor import apply_sensor
from synthgap.generators.params import SampleParams
from synthgap.generators.run.annotate import annotate
from synthgap.generators.run.writer import DatasetWriter, RunIdentity, write_sample_files
from synthgap.scenes.limits import MAX_IMAGES

if TYPE_CHECKING:
    from synthgap.generators.gl.renderer import Renderer, RenderResult

__all__ = ["RenderSummary", "SampleSource", "SceneSource", "render_dataset", "render_indices",
           "reuse_freed_memory"]

#: Writer threads per process and how many finished renders may wait for them.
WRITER_THREADS = 2
MAX_PENDING = 4
#: Niceness added to writer threads (see `_lower_thread_priority`).
WRITER_NICENESS = 10


class SampleSource(Protocol):
    """What a render process needs; picklable, so `spawn` workers can rebuild it.

    `load()` returns the part meshes (by part key, object frame, metres) and a pure function
    `index -> SampleParams`.
    """

    def load(self) -> tuple[Mapping[str, trimesh.Trimesh], Callable[[int], SampleParams]]: ...


@dataclass(frozen=True)
class SceneSource:
    """A scene's parts and sampler, loaded where it runs (in each worker process).

    Args:
        scene: a validated `synthgap.scenes.Scene`.
        seed: the run seed.
    """

    scene: Any
    seed: int

    def load(self) -> tuple[Mapping[str, trimesh.Trimesh], Callable[[int], SampleParams]]:
        from synthgap.generators.parts.assets import load_parts
        from synthgap.generators.sampling.sample import sample

        parts = load_parts(self.scene)
        meshes = {name: asset.mesh for name, asset in parts.items()}
        scene, seed = self.scene, self.seed

        def sample_fn(index: int) -> SampleParams:
            return sample(scene, parts, index=index, seed=seed)

        return meshes, sample_fn


@dataclass(frozen=True)
class PendingIndices:
    """Image indices `start, start + step, ... < stop` not in `done`, produced one at a time
    (picklable; a worker gets its share without a list of every index being built).

    Attributes:
        stop: one past the last index (the dataset size).
        done: indices already finished (skipped).
        start, step: the share of one of `step` workers.
    """

    stop: int
    done: frozenset[int] = frozenset()
    start: int = 0
    step: int = 1

    def __iter__(self) -> Iterator[int]:
        done = self.done
        for i in range(self.start, self.stop, self.step):
            if i not in done:
                yield i

    def __len__(self) -> int:
        span = range(self.start, self.stop, self.step)
        return len(span) - sum(1 for i in self.done if i in span)

    def __bool__(self) -> bool:
        return len(self) > 0

    def shard(self, w: int, workers: int) -> PendingIndices:
        """Worker `w`'s share of `workers` (every `workers`-th index from `w`)."""
        return PendingIndices(self.stop, self.done, self.start + w * self.step,
                              self.step * workers)


@dataclass
class Timings:
    """Seconds spent per stage in a process (sums over its images)."""

    sample: float = 0.0
    render: float = 0.0
    annotate: float = 0.0
    wait_writes: float = 0.0
    setup: float = 0.0
    # work inside `render` (also counted there): xatlas unwraps, environment maps (once);
    # geometry-defect booleans and their see-through pass (per image that has them)
    uv_unwrap: float = 0.0
    env_prefilter: float = 0.0
    geometry_defects: float = 0.0
    see_through: float = 0.0

    def add(self, other: dict[str, float]) -> None:
        for k, v in other.items():
            setattr(self, k, getattr(self, k) + v)

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class RenderSummary:
    """What a `render_dataset` call did (the CLI prints it as one JSON line)."""

    out: str
    count: int
    rendered: int
    skipped: int
    images: int
    workers: int
    seconds: float
    images_per_s: float
    platform: str | None
    timings: dict[str, float] = field(default_factory=dict)


def render_indices(meshes: Mapping[str, trimesh.Trimesh],
                   sample_fn: Callable[[int], SampleParams], indices: Iterable[int],
                   layout: DatasetLayout, *, width: int, height: int, defects_layer: bool,
                   on_record: Callable[[Record], None], timings: Timings | None = None,
                   threads: int = WRITER_THREADS, lod: bool = True,
                   renderer: Renderer | None = None) -> str | None:
    """Render, annotate and write `indices` in this process, calling `on_record` per image.

    `on_record(record)` runs in the calling thread after the image's files are on disk, in
    the order of `indices`; `lod`: see `Renderer`. `renderer`: an open `Renderer` of this
    size to use (and leave open: a process that renders several batches keeps its GL context
    and uploaded meshes); None: one made and closed here. Returns the GL platform used (None
    if nothing was rendered).
    """
    from synthgap.generators.gl.renderer import Renderer  # the only GL import, kept lazy

    timings = timings if timings is not None else Timings()
    pending: deque[Future[tuple[Record, float]]] = deque()

    def retire(block: bool) -> None:
        while pending and (block or len(pending) > MAX_PENDING or pending[0].done()):
            fut = pending.popleft()
            t = time.perf_counter()
            rec, annotate_s = fut.result()
            timings.wait_writes += time.perf_counter() - t
            timings.annotate += annotate_s
            on_record(rec)

    own = renderer is None
    if renderer is None:
        renderer = Renderer(width, height, lod=lod)
    before = renderer.stage_seconds
    with contextlib.ExitStack() as stack, \
            ThreadPoolExecutor(threads, initializer=_lower_thread_priority) as pool:
        if own:
            stack.enter_context(renderer)
        try:
            for index in map(int, indices):
                t0 = time.perf_counter()
                params = sample_fn(index)
                t1 = time.perf_counter()
                res = renderer.render(params, meshes)
                timings.sample += t1 - t0
                timings.render += time.perf_counter() - t1
                # Annotation, sensor effects and PNG encoding run in a writer thread while
                # this thread renders the next image.
                pending.append(pool.submit(_finish, layout, params, res, defects_layer))
                retire(block=False)
            retire(block=True)
        finally:
            for fut in pending:
                fut.cancel()
            after = renderer.stage_seconds

            def stage(name: str) -> float:
                return after.get(name, 0.0) - before.get(name, 0.0)

            timings.uv_unwrap += stage("xatlas")
            timings.env_prefilter += stage("environment prefilter")
            timings.geometry_defects += stage("geometry_defects")
            timings.see_through += stage("see_through")
        return renderer.platform


#: glibc `mallopt` parameters and the values `reuse_freed_memory` sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_BYTES = 16 << 20
_TRIM_THRESHOLD_BYTES = 64 << 20


def reuse_freed_memory() -> None:
    """Let glibc keep freed image-sized blocks (this process) instead of unmapping them.

    Each image allocates a dozen 0.25-3 MB arrays (layers, float copies, noise). glibc serves
    those with `mmap` and unmaps them when freed, so every image page-faults fresh zeroed pages
    in again. Serving blocks up to 16 MB from the heap and keeping up to 64 MB of free heap
    measured 74 -> 70 CPU ms per 512x512 turntable image (sensor effects 7.7 -> 5.5 ms).
    A no-op where the C library has no `mallopt` (not glibc).

    Process-wide and permanent: glibc has no getter for these parameters, so the previous
    values cannot be restored. It is therefore called only by processes that exist to render
    (the `spawn` render workers, Ray render tasks, the `synthgap render` command), never by
    `render_indices`/`render_dataset` or on import: a program that calls the library keeps
    its allocator as it set it.
    """
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
    mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)


def _lower_thread_priority() -> None:
    """Run writer threads at a lower priority (Linux: niceness is per thread), so PNG
    encoding fills the CPU time the rasteriser leaves idle instead of slowing its threads."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WRITER_NICENESS)
    except (AttributeError, OSError):  # not Linux, or not allowed: run at normal priority
        pass


def _finish(layout: DatasetLayout, params: SampleParams, res: RenderResult,
            defects_layer: bool) -> tuple[Record, float]:
    """Annotate one image and write its files (runs in a writer thread)."""
    t = time.perf_counter()
    rec = annotate(params, res.instance_mask, res.defect_mask, res.unoccluded_pixels,
                   defects_layer=defects_layer)
    annotate_s = time.perf_counter() - t
    rgb = apply_sensor(res.rgb, params.sensor)
    write_sample_files(layout, params.index, rgb, res.depth, res.instance_mask,
                       res.defect_mask if defects_layer else None)
    return rec, annotate_s


def render_dataset(source: SampleSource, out: Path | str, *, identity: RunIdentity, count: int,
                   workers: int = 1, overwrite: bool = False,
                   progress: Callable[[int], None] | None = None,
                   on_start: Callable[[int, int], None] | None = None,
                   backend: str = "local", address: str | None = None,
                   tasks: int | None = None, task_cpus: float = 1) -> RenderSummary:
    """Render images `0 .. count-1` into `out`, resuming a previous run of the same identity.

    Args:
        source: meshes + sampler (picklable when `workers > 1`).
        out: output folder.
        identity: scene text, seed, size and whether defect masks are written.
        count: number of images in the dataset.
        workers: render processes (1 = this process); local backend only (the summary's
            `workers` is the number of Ray tasks with the ray backend).
        overwrite: replace a dataset of another identity in `out`.
        progress: called with the number of newly finished images (for a progress bar).
        on_start: called once with `(to_render, already_done)` before rendering starts.
        backend: "local" (this machine, `workers` processes) or "ray" (Ray tasks, see
            `synthgap.generators.run.ray_backend.render_ray`; `workers` is then ignored).
        address: Ray cluster `HOST:PORT` (ray backend; None: a local Ray instance).
        tasks: Ray tasks (contiguous chunks of indices); None: chosen from the cluster size.
        task_cpus: CPUs each Ray task reserves.

    Returns:
        A `RenderSummary`.

    Raises:
        ValueError: count < 1, workers < 1, an unknown backend, or `address` with the local
            backend.
        RayAddressError: the Ray `address` is malformed or does not answer.
        RayBackendError: ray is not installed or a Ray task failed.
        DatasetConflictError: `out` cannot be written (see `DatasetWriter.open`).
    """
    _check_run_args(count, workers, backend, address)
    t_start = time.perf_counter()
    writer = DatasetWriter(Path(out), identity, overwrite=overwrite)
    done = writer.open()
    if count > MAX_IMAGES:
        raise ValueError(f"count: at most {MAX_IMAGES} images per dataset, got {count}")
    todo = PendingIndices(count, frozenset(done))  # streamed: -n 10**8 builds no list
    if on_start is not None:
        on_start(len(todo), count - len(todo))
    timings = Timings()
    ran = _Ran(workers=workers)
    status = "interrupted"

    def on_record(rec: Record) -> None:
        writer.append(rec)
        if progress is not None:
            progress(1)

    try:
        if todo:
            ran = _render_todo(source, todo, writer.layout, identity, on_record, timings,
                               backend=backend, workers=workers, address=address,
                               tasks=tasks, task_cpus=task_cpus)
        status = "complete"
    finally:
        seconds = time.perf_counter() - t_start
        rendered = len(writer.done) - len(done & writer.done)
        images_per_s = round(rendered / seconds, 3) if seconds > 0 else None
        info = {"status": status, "count": count, "images": len(writer.done),
                "rendered": rendered, "skipped": count - len(todo), "backend": backend,
                "workers": ran.workers,
                "gl_platform": ran.platform, "seconds": round(seconds, 3),
                "images_per_s": images_per_s,
                "timings": timings.as_dict()}
        if ran.ray_nodes is not None:
            info["ray_nodes"] = ran.ray_nodes  # images per Ray node id (which nodes did the work)
        writer.close(info)
    return RenderSummary(out=str(out), count=count, rendered=rendered, skipped=count - len(todo),
                         images=len(writer.done), workers=ran.workers,
                         seconds=round(seconds, 3), images_per_s=images_per_s or 0.0,
                         platform=ran.platform, timings=timings.as_dict())


def _check_run_args(count: int, workers: int, backend: str, address: str | None) -> None:
    """Raise `ValueError` for arguments `render_dataset` cannot run with."""
    if count < 1:
        raise ValueError(f"count: expected >= 1 images, got {count}")
    if workers < 1:
        raise ValueError(f"workers: expected >= 1, got {workers}")
    if backend not in ("local", "ray"):
        raise ValueError(f"backend: expected 'local' or 'ray', got {backend!r}")
    if address is not None and backend != "ray":
        raise ValueError("address: only used with backend='ray'")


@dataclass
class _Ran:
    """What a run reports about where it rendered.

    Attributes:
        workers: render processes, or Ray tasks with the ray backend.
        platform: the GL platform of the renders; None when nothing was rendered.
        ray_nodes: images per Ray node id (ray backend only).
    """

    workers: int
    platform: str | None = None
    ray_nodes: dict[str, int] | None = None


def _render_todo(source: SampleSource, todo: PendingIndices, layout: DatasetLayout,
                 identity: RunIdentity, on_record: Callable[[Record], None], timings: Timings,
                 *, backend: str, workers: int, address: str | None, tasks: int | None,
                 task_cpus: float) -> _Ran:
    """Render the pending indices with the chosen backend (see `render_dataset`)."""
    if backend == "ray":
        from synthgap.generators.run.ray_backend import YamlSceneSource, render_ray
        from synthgap.scenes import scene_to_yaml

        # a scene travels as its validated YAML text (absolute paths), not a live object
        task_source = (YamlSceneSource(scene_to_yaml(source.scene), source.seed)
                       if isinstance(source, SceneSource) else source)
        run = render_ray(
            task_source, list(todo), layout, width=identity.width,
            height=identity.height, defects_layer=identity.defects_layer,
            on_record=on_record, address=address, tasks=tasks, task_cpus=task_cpus,
            lod=identity.lod)
        timings.add(run.timings)
        return _Ran(workers=run.tasks, platform=run.platform, ray_nodes=run.images_per_node)
    if workers == 1:
        t = time.perf_counter()
        meshes, sample_fn = source.load()
        timings.setup += time.perf_counter() - t
        platform = render_indices(meshes, sample_fn, todo, layout,
                                  width=identity.width, height=identity.height,
                                  defects_layer=identity.defects_layer,
                                  on_record=on_record, timings=timings, lod=identity.lod)
        return _Ran(workers=workers, platform=platform)
    return _Ran(workers=workers, platform=_render_processes(source, todo, layout, identity,
                                                            workers, on_record, timings))


# --------------------------------------------------------------------------- processes


def die_with_parent(parent_pid: int, *, poll_s: float = 1.0) -> None:
    """End this process when process `parent_pid` ends (a killed `synthgap render`).

    Linux: the kernel sends SIGKILL at the parent's death (`PR_SET_PDEATHSIG`). Elsewhere, and
    as a fallback, a daemon thread checks every `poll_s` seconds whether this process was
    handed to another parent, and exits.
    """
    import signal

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(3)
            time.sleep(poll_s)

    if os.getppid() != parent_pid:  # the parent died before we got here
        os._exit(3)
    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _worker_main(source: SampleSource, indices: Sequence[int], root: str,
                 identity: RunIdentity, q: Any, raster_threads: int,
                 parent_pid: int) -> None:
    """Entry point of a spawn worker: render `indices`, send records and timings to `q`."""
    # Share the cores between the workers' rasterisers (Mesa llvmpipe otherwise starts one
    # thread per core in every process); a value the user set wins.
    os.environ.setdefault("LP_NUM_THREADS", str(raster_threads))
    die_with_parent(parent_pid)
    reuse_freed_memory()  # this process only renders
    try:
        timings = Timings()
        t = time.perf_counter()
        meshes, sample_fn = source.load()
        timings.setup += time.perf_counter() - t
        platform = render_indices(meshes, sample_fn, indices, DatasetLayout(Path(root)),
                                  width=identity.width, height=identity.height,
                                  defects_layer=identity.defects_layer,
                                  on_record=lambda rec: q.put(("record", rec.to_json())),
                                  timings=timings, lod=identity.lod)
        q.put(("done", (platform, timings.as_dict())))
    except BaseException:  # report everything to the parent, which re-raises
        q.put(("error", traceback.format_exc()))


def _render_processes(source: SampleSource, todo: PendingIndices, layout: DatasetLayout,
                      identity: RunIdentity, workers: int,
                      on_record: Callable[[Record], None], timings: Timings) -> str | None:
    import json

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    shards = [todo.shard(w, workers) for w in range(workers)]
    raster_threads = max(1, (os.cpu_count() or 1) // workers)
    procs = [ctx.Process(target=_worker_main, daemon=True,
                         args=(source, shard, str(layout.root), identity, q, raster_threads,
                               os.getpid()))
             for shard in shards if shard]
    for p in procs:
        p.start()
    finished, platform = 0, None
    try:
        while finished < len(procs):
            try:
                kind, payload = q.get(timeout=1.0)
            except queue_mod.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"a render worker died (exit code {dead[0].exitcode}) "
                                       "without reporting an error; rerun to resume") from None
                continue
            if kind == "record":
                on_record(Record.from_dict(json.loads(payload)))
            elif kind == "done":
                platform = payload[0]
                timings.add(payload[1])
                finished += 1
            else:
                raise RuntimeError(f"a render worker failed:\n{payload}")
    finally:
        for p in procs:
            if p.is_alive() and finished < len(procs):
                p.terminate()
            p.join(timeout=10)
    return platform
