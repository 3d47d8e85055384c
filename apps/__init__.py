"""absl-flag programs: `python -m apps.train`, `python -m apps.evaluate`."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the apps' output
