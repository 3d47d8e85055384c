"""Why the restoration loop loses to biharmonic interpolation at inpainting (README: Restoring Set12).

    python benchmarks/restore_inpaint_diagnosis.py [--images=3]

On the first --images validation images of train400 (benchmarks/restore_validation.py's split and observations;
Set12 is not used), for 50% and 80% missing pixels: the PSNR of three starts (the library's normalized convolution,
a harmonic fill by Jacobi iterations, scikit-image's biharmonic inpainting) and of the loop run from each with the
convolutional prior's default inpainting schedule (tfvae/restoration/restore.py), with the network as it is and
made exactly the identity at sigma 0 (D(x, s) - D(x, 0) + x); and how far the network moves a clean image when told
the noise level is 0, 0.255 / 255 and 3 / 255. Results: benchmarks/results/restore_inpaint_diagnosis.json.
"""

import argparse
import json
import os
import sys

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import restore_set12 as bench  # noqa: E402
from benchmarks.common import machine  # noqa: E402
from benchmarks.restore_validation import TRAIN400  # noqa: E402
from tfvae.data import read_image  # noqa: E402
from tfvae.data.images import image_files  # noqa: E402
from tfvae.restoration import conv_prior  # noqa: E402
from tfvae.restoration import denoise as denoise_lib  # noqa: E402
from tfvae.restoration import restore as restore_lib  # noqa: E402

JACOBI_STEPS = 300


def harmonic(y, degradation):
    """The harmonic fill: the normalized-convolution start, then JACOBI_STEPS of x <- m y + (1 - m) mean of the four
    neighbours (reflected borders)."""
    m = degradation.mask[None]
    yt = tf.constant(y[None, ..., None])
    x = degradation.initial(yt[0])[None]
    kernel = tf.constant(np.array([[0, .25, 0], [.25, 0, .25], [0, .25, 0]], np.float32)[:, :, None, None])
    for _ in range(JACOBI_STEPS):
        neighbours = tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], "SYMMETRIC"), kernel, 1, "VALID")
        x = m * yt + (1 - m) * neighbours
    return x[0, ..., 0].numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--output", default=os.path.join(bench.RESULTS, "restore_inpaint_diagnosis.json"))
    args = parser.parse_args()
    from skimage import restoration  # pylint: disable=g-import-not-at-top

    files = image_files(TRAIN400)[::conv_prior.VALIDATION_EVERY][:args.images]
    images = [read_image(f, channels=1)[..., 0].astype(np.float32) / 255 for f in files]
    conv = denoise_lib.load_prior("conv")
    schedule = restore_lib.DEFAULT_SCHEDULES[("Inpaint", "image")]
    plain = restore_lib._z_step(conv, 1, "opponent", 1)  # pylint: disable=protected-access

    def identity_at_zero(x, s):
        return plain(x, s) - plain(x, tf.zeros_like(s)) + x

    results = {"machine": machine(), "images": [os.path.basename(f) for f in files], "schedule": vars(schedule),
               "rows": {}}
    for t, task in enumerate(bench.TASKS[:2]):  # inpaint50, inpaint80: the seeds of restore_set12 / validation
        scores = {}
        for index, clean in enumerate(images):
            degradation = bench.make(task, clean.shape, 1000 * t + index)
            y = bench.observe(degradation, clean, 1000 * t + index)
            starts = {"normalized convolution": degradation.initial(tf.constant(y[..., None])).numpy()[..., 0],
                      "harmonic": harmonic(y, degradation),
                      "biharmonic": restoration.inpaint_biharmonic(y, degradation.mask.numpy()[..., 0] == 0)}
            for name, start in starts.items():
                scores.setdefault(f"{name}", []).append(bench.psnr(start, clean))
                for variant, z_step in (("loop", plain), ("loop, identity at 0", identity_at_zero)):
                    sigmas, alphas = schedule.levels(0.0)
                    x, yt = tf.constant(start[..., None].astype(np.float32)), tf.constant(y[..., None])
                    for k in range(schedule.steps):  # restore.loop from this start (no padding: A is per pixel)
                        x = z_step(degradation.x_step(yt, x, alphas[k]), sigmas[k])
                    scores.setdefault(f"{name} + {variant}", []).append(bench.psnr(x.numpy()[..., 0], clean))
        results["rows"][task] = {k: float(np.mean(v)) for k, v in scores.items()}
        for k, v in results["rows"][task].items():
            print(f"{task:10s} {k:50s} {v:6.2f} dB", flush=True)
    moved = {}
    for level in (0.0, 0.255, 3.0):
        out = [conv((c[None, ..., None], tf.constant([level / 255])))[0, ..., 0].numpy() for c in images]
        moved[f"{level:g}"] = {"psnr": float(np.mean([bench.psnr(o, c) for o, c in zip(out, images)])),
                               "rms_255": float(np.mean([255 * np.sqrt(np.mean((o - c) ** 2))
                                                         for o, c in zip(out, images)]))}
        print(f"clean image through D(x, {level:g} / 255): {moved[f'{level:g}']['psnr']:.2f} dB, "
              f"{moved[f'{level:g}']['rms_255']:.2f} / 255 RMS", flush=True)
    results["clean_through_the_network"] = moved
    with open(args.output, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
