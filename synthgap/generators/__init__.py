"""Generators: scene -> labelled pixels. Sub-packages in data-flow order (docs/architecture.md):
`parts` (CAD -> meshes), `look` / `defects` / `camera` (appearance, defect geometry, lens and
sensor; no GL), `sampling` (scene + index -> `params.SampleParams`), `gl` (the renderer; the
only OpenGL code), `real` (pinned real views and their labels), `run` (annotate, write, workers)."""
