import subprocess
import sys

import synthgap


def test_every_public_name_resolves():
    import importlib

    for name in synthgap.__all__:
        obj = getattr(synthgap, name)
        if callable(obj):  # the lazy export is the object defined under that name
            assert obj.__name__ == name, name
            assert getattr(importlib.import_module(obj.__module__), name) is obj, name
    assert isinstance(synthgap.__version__, str) and synthgap.__version__.count(".") >= 1
    assert set(synthgap.EXPORTERS) >= {"coco", "yolo", "folders", "webdataset"}


def test_import_is_light():
    code = ("import sys, synthgap, synthgap.cli; "
            "heavy = [m for m in ('torch', 'pyrender', 'OpenGL', 'cv2') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
