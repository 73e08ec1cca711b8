import subprocess
import sys

import synthgap


def test_every_public_name_resolves():
    for name in synthgap.__all__:
        assert getattr(synthgap, name) is not None, name


def test_import_is_light():
    code = ("import sys, synthgap, synthgap.cli; "
            "heavy = [m for m in ('torch', 'pyrender', 'OpenGL', 'cv2') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
