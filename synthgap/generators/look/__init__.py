"""How things look (no GL): materials and their colours (`appearance`, `colour`), textures and
UVs (`textures`, `uvs`), environment maps (`environment`), light sources (`lighting`)."""
