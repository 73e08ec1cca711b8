"""pyrender's framebuffer read-back, replaced by a copy that can skip the depth read (part of
`pyrender_compat`)."""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from synthgap.generators.gl.pyrender_compat.core import FB_FIELDS, get_pyrender, inner_renderer

__all__ = ["install_fast_readback", "read_main_framebuffer", "skip_depth"]

# --------------------------------------------------------------------------- read-back


def install_fast_readback(offscreen: Any) -> bool:
    """Replace the renderer's `_read_main_framebuffer` by `read_main_framebuffer`.

    Returns:
        Whether it was installed (False when pyrender's renderer lacks the fields it reads).
    """
    inner = inner_renderer(offscreen)
    if inner is None or not all(hasattr(inner, f) for f in FB_FIELDS) or \
            not hasattr(inner, "_read_main_framebuffer"):
        return False
    inner._synthgap_skip_depth = False
    inner._read_main_framebuffer = types.MethodType(read_main_framebuffer, inner)
    return True


def skip_depth(offscreen: Any, skip: bool) -> None:
    """Whether the next colour passes skip the depth read (with `install_fast_readback`)."""
    inner = inner_renderer(offscreen)
    if hasattr(inner, "_synthgap_skip_depth"):
        inner._synthgap_skip_depth = skip


def read_main_framebuffer(self: Any, scene: Any, flags: int
                          ) -> tuple[np.ndarray, np.ndarray | None] | np.ndarray:
    """pyrender's `Renderer._read_main_framebuffer` (pyrender-maintained 1.0), minus work.

    Same GL calls and the same float32 depth arithmetic in the same order (so the same bits),
    but the depth buffer is neither resolved nor read when `_synthgap_skip_depth` is set, and
    the conversion runs in place instead of through boolean-mask copies.

    Returns:
        `(colour, depth or None)`, or the depth alone with `RenderFlags.DEPTH_ONLY` (as pyrender).
    """
    from OpenGL import GL
    RenderFlags = get_pyrender("constants").RenderFlags

    width, height = self._main_fb_dims
    GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._main_fb_ms)
    GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, self._main_fb)
    GL.glBlitFramebuffer(0, 0, width, height, 0, 0, width, height, GL.GL_COLOR_BUFFER_BIT,
                         GL.GL_LINEAR)
    skip_depth = self._synthgap_skip_depth and not flags & RenderFlags.DEPTH_ONLY
    if not skip_depth:
        GL.glBlitFramebuffer(0, 0, width, height, 0, 0, width, height,
                             GL.GL_DEPTH_BUFFER_BIT, GL.GL_NEAREST)
    GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._main_fb)
    depth = None
    if not skip_depth:
        buf = GL.glReadPixels(0, 0, width, height, GL.GL_DEPTH_COMPONENT, GL.GL_FLOAT)
        raw = np.frombuffer(buf, dtype=np.float32).reshape(height, width)[::-1]
        znear = scene.main_camera_node.camera.znear
        zfar = scene.main_camera_node.camera.zfar
        depth = 2.0 * raw - 1.0  # float32, as pyrender computes it
        if zfar is None:
            np.subtract(1.0, depth, out=depth)
            np.divide(2 * znear, depth, out=depth)
        else:
            np.multiply(depth, zfar - znear, out=depth)
            np.subtract(zfar + znear, depth, out=depth)
            np.divide((2.0 * znear * zfar), depth, out=depth)
        depth[raw == 1.0] = 0.0
        if flags & RenderFlags.DEPTH_ONLY:
            return depth
    fmt, channels = (GL.GL_RGBA, 4) if flags & RenderFlags.RGBA else (GL.GL_RGB, 3)
    buf = GL.glReadPixels(0, 0, width, height, fmt, GL.GL_UNSIGNED_BYTE)
    color = np.frombuffer(buf, dtype=np.uint8).reshape(height, width, channels)[::-1]
    return np.ascontiguousarray(color), depth
