"""Generators: CAD parts, sampling, rendering (the only OpenGL module), annotation and writing."""
