"""Sampling: a scene and an index -> `SampleParams` (`sample`), the contract with the renderer
(`synthgap.generators.params`)."""
