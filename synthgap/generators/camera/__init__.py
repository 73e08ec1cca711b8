"""The camera around the render: lens distortion maps (`distortion`) and sensor effects on the
image (`sensor`); pure NumPy/OpenCV."""
