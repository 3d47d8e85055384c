"""How fast this machine is today, for comparing timings across sessions: the convolution the accelerators issue
quotes (a 3x3 convolution of 64 channels on a [32, 64, 64, 64] batch, plain tf.nn.conv2d, 807 GFLOP/s in bfloat16 and
104 in float32 when the issue was written on 2 cores) and the shipped grey denoiser's one pass on a 512x512 image.

    python benchmarks/machine_speed.py [--output=benchmarks/results/machine_speed.json]

Each figure is the best of 5 timed runs after a warm-up, wall clock. Results are appended to --output with the date,
so the file keeps a history.
"""

import argparse
import datetime
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import machine  # noqa: E402
from tfvae.restoration import denoise as denoise_lib  # noqa: E402


def best_seconds(fn, repeats=5):
    fn()  # warm-up: graph building, oneDNN's kernel choice
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def conv_gflops(dtype):
    x = tf.random.normal([32, 64, 64, 64], dtype=tf.float32)
    w = tf.random.normal([3, 3, 64, 64], dtype=tf.float32)
    x, w = tf.cast(x, dtype), tf.cast(w, dtype)
    step = tf.function(lambda: tf.nn.conv2d(x, w, 1, "SAME"))
    seconds = best_seconds(lambda: step().numpy())
    return 2 * 32 * 64 * 64 * 64 * 64 * 9 / seconds / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "results", "machine_speed.json"))
    args = parser.parse_args()
    prior = denoise_lib.load_prior("conv")
    image = tf.constant(np.random.default_rng(0).uniform(size=[1, 512, 512, 1]).astype(np.float32))
    one_pass = tf.function(lambda: prior((image, tf.constant([25 / 255]))))
    row = {"date": datetime.datetime.now().isoformat(timespec="minutes"), "machine": machine(),
           "conv3x3_64ch_gflops": {"bfloat16": conv_gflops(tf.bfloat16), "float32": conv_gflops(tf.float32)},
           "grey_denoiser_one_pass_512x512_seconds": best_seconds(lambda: one_pass().numpy())}
    print(json.dumps(row, indent=1))
    history = json.load(open(args.output)) if os.path.exists(args.output) else []
    with open(args.output, "w") as f:
        json.dump(history + [row], f, indent=1)


if __name__ == "__main__":
    main()
