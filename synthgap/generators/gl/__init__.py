"""The GL layer: `SampleParams` + meshes -> pixels (`renderer`, `scene_graph`, `compositing`,
`occlusion`); `pyrender_compat` is the only package that imports pyrender or OpenGL."""
