"""The part library: CAD loading and units, procedural parts, stable poses (`assets`,
`procedural`), and level of detail for dense meshes (`lod`)."""
