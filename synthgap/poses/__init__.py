"""Poses from photos: the 6D pose of a CAD part in a real photo, and a scene's `real_views`.

A stage of its own in the data flow (docs/architecture.md): it reads photos, meshes and
hints, renders the part (`synthgap.generators`), and gives poses that `synthgap.adapt` (aligned
render/photo pairs), scene fitting and the benchmarks use. Modules:

* `aligner`: `Aligner.align(photo, K, mesh, hint=..., rng=...)`, the search (public names
  `AlignConfig`, `BoxHint`, `PoseHint`, `AlignResult`, `project_mask`, `contour_overlay` are
  importable from here too);
* `config`: the settings, hints and result; `search`: the search stages as pure functions;
* `features`: photo features (edges, GrabCut, mesh colours) and the silhouette cost;
* `geometry`: viewpoints, rotations, candidate boxes; `render`: the part's silhouette renders;
* `views`: `align_views`, photos + hints → `real_views` entries (what `synthgap align` runs).
"""
