"""Render a dataset's images as Ray tasks (one machine or a cluster).

The indices still to do are cut into contiguous chunks, one Ray task each. A task rebuilds the
scene from its validated YAML text (paths in it are absolute, so every node must see the mesh
files and the output folder at the same paths: a shared filesystem), renders its chunk with
`render_indices` straight into the output folder (atomic per-image writes, as local workers do)
and returns its records as JSON lines. The driver appends them through the `DatasetWriter`, so
`records.jsonl`, resume and `run.json` behave exactly as for `--workers`. Image i depends only on
(scene, seed, i), so the files are byte-identical to a local run.

`ray` is imported lazily (optional extra `synthgap[ray]`).
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trimesh

from synthgap.data import DatasetLayout, Record
from synthgap.generators.params import SampleParams

__all__ = ["RayAddressError", "RayBackendError", "RayRun", "YamlSceneSource", "chunk_indices",
           "render_ray"]

#: Times Ray reruns a task whose worker process or node died.
TASK_RETRIES = 2
#: Seconds to wait for a TCP connection to a cluster address before giving up.
CONNECT_TIMEOUT_S = 5.0


class RayBackendError(RuntimeError):
    """Ray is not installed, or a Ray render task failed."""


class RayAddressError(ConnectionError):
    """A Ray cluster address is malformed or does not answer."""


@dataclass(frozen=True)
class YamlSceneSource:
    """A scene given as validated YAML text (absolute paths), loaded where it runs.

    Args:
        scene_yaml: `scene_to_yaml(scene)` text.
        seed: the run seed.
    """

    scene_yaml: str
    seed: int

    def load(self) -> tuple[Mapping[str, trimesh.Trimesh], Callable[[int], SampleParams]]:
        import yaml

        from synthgap.generators.run.runner import SceneSource
        from synthgap.scenes import parse_scene

        scene = parse_scene(yaml.safe_load(self.scene_yaml), base_dir=Path("/"),
                            source="<scene.yaml sent to a Ray task>")
        return SceneSource(scene, self.seed).load()


def chunk_indices(indices: Sequence[int], chunks: int) -> list[list[int]]:
    """Cut `indices` into at most `chunks` contiguous, non-empty runs of near-equal length.

    >>> chunk_indices([0, 1, 2, 3, 4], 2)
    [[0, 1, 2], [3, 4]]
    """
    if chunks < 1:
        raise ValueError(f"chunks: expected >= 1, got {chunks}")
    items = list(indices)
    n = min(chunks, len(items))
    if n == 0:
        return []
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for k in range(n):
        stop = start + size + (1 if k < extra else 0)
        out.append(items[start:stop])
        start = stop
    return out


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayBackendError("the Ray backend needs the `ray` package: "
                           "pip install synthgap[ray]") from exc
    return ray


def _check_reachable(address: str) -> None:
    """Fail fast (seconds, not minutes) when `HOST:PORT` does not accept connections."""
    if address in ("auto", "local") or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise RayAddressError(f"address: expected HOST:PORT of a Ray head node (e.g. "
                         f"10.0.0.5:6379), got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise RayAddressError(
            f"cannot reach a Ray cluster at {address} ({exc}); start one with "
            f"`ray start --head --port={port}` on {host}, or omit --address for a local "
            "Ray instance") from None


@dataclass(frozen=True)
class RayRun:
    """What a `render_ray` call did.

    Attributes:
        platform: the GL platform of the tasks (None if nothing was rendered).
        timings: task timings summed over tasks (seconds, `runner.Timings` keys).
        tasks: number of Ray tasks (chunks).
        images_per_node: Ray node id -> images whose records came from a task on that node
            (a task that died with its node and was retried counts where it finished).
    """

    platform: str | None
    timings: dict[str, float]
    tasks: int
    images_per_node: dict[str, int]


_TaskResult = tuple[list[str], str | None, dict[str, float], str]


def _task_main(*args: Any) -> _TaskResult | str:
    """Body of one Ray task (see `_render_chunk`); an error comes back as its traceback text
    (exceptions of our own types need not unpickle in the driver)."""
    try:
        return _render_chunk(*args)
    except Exception:
        return traceback.format_exc()


def _node_id() -> str:
    try:
        import ray

        return str(ray.get_runtime_context().get_node_id())
    except Exception:  # not inside a Ray task (a direct call in tests)
        return socket.gethostname()


#: What the last task of this worker process loaded and opened, reused by its next task of
#: the same scene and size: `(source, meshes, sample_fn)` and `((width, height, lod),
#: Renderer)`. Ray keeps a worker process for many tasks; without this each task would parse
#: the scene, read the meshes and make a GL context again (~50 ms + uploads per task).
_last_scene: tuple[Any, Any, Any] | None = None
_last_renderer: tuple[tuple[int, int, bool], Any] | None = None


def _scene_of(source: Any) -> tuple[Any, Any]:
    global _last_scene
    if _last_scene is None or _last_scene[0] != source:
        meshes, sample_fn = source.load()
        _last_scene = (source, meshes, sample_fn)
    return _last_scene[1], _last_scene[2]


def _renderer_for(width: int, height: int, lod: bool) -> Any:
    global _last_renderer
    from synthgap.generators.gl.renderer import Renderer

    key = (width, height, lod)
    if _last_renderer is None or _last_renderer[0] != key:
        if _last_renderer is not None:
            _last_renderer[1].close()
        _last_renderer = (key, Renderer(width, height, lod=lod))
    return _last_renderer[1]


def _render_chunk(source: Any, indices: list[int], root: str, width: int, height: int,
                  defects_layer: bool, raster_threads: int, lod: bool = True) -> _TaskResult:
    """Render `indices` into `root`; `(record JSON lines, GL platform, timings, node id)`."""
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    os.environ.setdefault("LP_NUM_THREADS", str(raster_threads))
    from synthgap.generators.run.runner import Timings, render_indices, reuse_freed_memory

    reuse_freed_memory()  # a render task's process (allocator thresholds only; no getter)
    timings = Timings()
    t = time.perf_counter()
    meshes, sample_fn = _scene_of(source)
    timings.setup += time.perf_counter() - t
    lines: list[str] = []
    platform = render_indices(meshes, sample_fn, indices, DatasetLayout(Path(root)),
                              width=width, height=height, defects_layer=defects_layer,
                              on_record=lambda rec: lines.append(rec.to_json()),
                              timings=timings, lod=lod,
                              renderer=_renderer_for(width, height, lod))
    return lines, platform, timings.as_dict(), _node_id()


def render_ray(source: Any, todo: Sequence[int], layout: DatasetLayout, *, width: int,
               height: int, defects_layer: bool, on_record: Callable[[Record], None],
               address: str | None = None, tasks: int | None = None, task_cpus: float = 1,
               local_cpus: int | None = None, lod: bool = True) -> RayRun:
    """Render `todo` as Ray tasks writing into `layout.root`; records go to `on_record`.

    Args:
        source: picklable `SampleSource` (e.g. `YamlSceneSource`), loaded in each task.
        todo: indices to render.
        layout: the output folder (must be visible at the same path on every node).
        width, height: image size (pixels).
        defects_layer: write defect masks.
        on_record: called in the driver for each record, as tasks complete.
        address: Ray cluster `HOST:PORT` (or `auto`); None starts a local Ray instance.
            If this process already called `ray.init`, that session is used.
        tasks: number of contiguous chunks (Ray tasks); None: 4 per CPU slot of the cluster,
            at most 500 images each.
        task_cpus: CPUs each task reserves (also its rasteriser's thread count).
        local_cpus: CPUs of a local Ray instance (None: all).
        lod: level of detail for dense meshes (see `synthgap.generators.gl.renderer.Renderer`).

    Returns:
        A `RayRun` (GL platform, summed task timings, number of tasks, images per node).

    Raises:
        RayBackendError: ray not installed, or a task failed (rerun to resume).
        RayAddressError: `address` is malformed or does not answer.
        ValueError: bad `tasks` or `task_cpus`.
    """
    if tasks is not None and tasks < 1:
        raise ValueError(f"tasks: expected >= 1, got {tasks}")
    if task_cpus <= 0:
        raise ValueError(f"task_cpus: expected > 0, got {task_cpus}")
    ray = _import_ray()
    if address is not None:
        _check_reachable(address)
    started_here = False
    if not ray.is_initialized():
        if address is None:
            ray.init(num_cpus=local_cpus, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
        started_here = True
    try:
        if tasks is None:
            slots = max(1, int(ray.cluster_resources().get("CPU", 1) // task_cpus))
            tasks = max(4 * slots, math.ceil(len(todo) / 500))
        chunks = chunk_indices(todo, tasks)
        # A task is idempotent (deterministic images, atomic writes), so Ray may rerun one
        # whose worker or node died; errors in our code come back as text and are not retried.
        remote = ray.remote(num_cpus=task_cpus, max_retries=TASK_RETRIES)(_task_main)
        threads = max(1, math.ceil(task_cpus))
        pending = [remote.remote(source, chunk, str(layout.root), width, height, defects_layer,
                                 threads, lod) for chunk in chunks]
        return _collect(ray, pending, on_record, len(chunks))
    finally:
        if started_here:
            ray.shutdown()


def _collect(ray: Any, pending: list[Any], on_record: Callable[[Record], None],
             tasks: int) -> RayRun:
    """Wait for the `tasks` Ray tasks `pending`, pass their records to `on_record` as each
    completes, and sum their timings; cancel what is left when one fails."""
    timings: dict[str, float] = {}
    per_node: dict[str, int] = {}
    platform = None
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            try:
                result = ray.get(ready[0])
            except ray.exceptions.RayError as exc:  # e.g. a node or worker died
                result = str(exc)
            if isinstance(result, str):
                raise RayBackendError("a Ray render task failed; rerun the same command to "
                                      f"resume:\n{result}")
            lines, plat, task_timings, node = result
            platform = platform or plat
            per_node[node] = per_node.get(node, 0) + len(lines)
            for k, v in task_timings.items():
                timings[k] = timings.get(k, 0.0) + v
            for line in lines:
                on_record(Record.from_dict(json.loads(line)))
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
    return RayRun(platform, timings, tasks, per_node)
