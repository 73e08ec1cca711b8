"""A dataset run: render -> annotate -> sensor -> write, resume, workers and Ray (`runner`,
`annotate`, `writer`, `ray_backend`), and the checks before rendering (`preflight`)."""
