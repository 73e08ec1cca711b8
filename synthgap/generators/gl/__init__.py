"""The GL layer: `SampleParams` + meshes -> pixels (`renderer`, `scene_graph`, `compositing`,
`occlusion`), the offscreen context (`context`); `pyrender_compat` is the only package that
imports pyrender or OpenGL."""
