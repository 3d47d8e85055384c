"""Choosing tfvae.restore's schedules (and Richardson-Lucy's iteration count) on the validation split of train400.

    python benchmarks/restore_validation.py [--images=10] [--output=...json]
    python benchmarks/restore_validation.py --kinds=image    # the conv prior's rows again; the GMM's kept
    python benchmarks/restore_validation.py --tasks=inpaint50,inpaint80 --match=projected    # some rows again

A run of some --kinds, --tasks or schedules (--match: those whose name contains it) replaces those rows of the
existing --output (same images) and keeps the others; the rule is applied to all of them. The schedules with
project=True, named "projected" (the inpainting's observed pixels kept exactly: tfvae/restoration/restore.py), run on
Inpaint tasks only.

The validation split: the images of ../shared/data/denoise/train400 at sorted positions 0, 20, 40, ...
(tfvae/restoration/conv_prior.py: VALIDATION_EVERY; never trained on by the priors' training apps), the first
--images of them, listed in the JSON. The tasks and the observations are those of benchmarks/restore_set12.py. For
every prior kind (the convolutional prior, an image prior; the GMM, a patch prior) and every schedule of GRID, the mean
PSNR per task; the rule: for each degradation kind (Inpaint: inpaint50 and inpaint80; Blur: deblur; Downsample: sr2
and sr4), the schedule with the best mean PSNR over its tasks among those within the time budget (for the image
prior: at most PASS_BUDGET network passes per image, the issue's 10 s at 512x512). Seconds per 256x256 image
(measured here on 180x180 images and scaled by the pixel count) are recorded, not used: on a machine shared with
other jobs they were 2 to 3 times what Set12's run measures (benchmarks/restore_set12.py reports the time target). The results print and go to
benchmarks/results/restore_validation.json; DEFAULT_SCHEDULES (tfvae/restoration/restore.py) and
RICHARDSON_LUCY_ITERATIONS (restore_set12.py) are set from it by hand.
"""

import argparse
import dataclasses
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import restore_set12 as bench  # noqa: E402
from benchmarks.common import machine  # noqa: E402
from tfvae.data import read_image  # noqa: E402
from tfvae.data.images import image_files  # noqa: E402
from tfvae.restoration import conv_prior  # noqa: E402
from tfvae.restoration import denoise as denoise_lib  # noqa: E402
from tfvae.restoration import restore as restore_lib  # noqa: E402
from tfvae.restoration.restore import Schedule  # noqa: E402

TRAIN400 = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "denoise", "train400")
KINDS = {"Inpaint": ("inpaint50", "inpaint80"), "Blur": ("deblur",), "Downsample": ("sr2", "sr4")}
GRID = {  # top 49 / 255 (DPIR's) throughout; lambda 0.23 is DPIR's
    "image": [Schedule(steps, 49 / 255, lam, bottom) for steps in (4, 8, 16) for lam in (0.23, 1.0)
              for bottom in (restore_lib.SIGMA_FLOOR, 3 / 255)]
             + [Schedule(steps, 49 / 255, 0.23, bottom, project=True) for steps in (4, 8, 16, 32)
                for bottom in (restore_lib.SIGMA_FLOOR, 3 / 255)]  # 32: 16 was the best of the rest
             # DPIR's periodic self-ensemble with the schedules chosen without it, and longer ones for inpainting
             + [Schedule(steps, 49 / 255, 0.23, 3 / 255, periodic=True) for steps in (8, 16)]
             + [Schedule(steps, 49 / 255, 0.23, bottom, project=True, periodic=True) for steps in (16, 32)
                for bottom in (restore_lib.SIGMA_FLOOR, 3 / 255)]
             + [Schedule(steps, 49 / 255, 0.23, bottom, project=True, periodic=True)
                for steps, bottom in ((32, 5 / 255), (48, 3 / 255))]  # 64 steps: over 10 s at 512x512
             + [Schedule(steps, 49 / 255, 0.23, 3 / 255, project=True, periodic=True) for steps in (24, 28)]  # budget
             + [Schedule(8, top, lam, 3 / 255, periodic=True) for top, lam in ((49 / 255, 0.1), (25 / 255, 0.23))]
             # the full self-ensemble in the last steps
             + [Schedule(32, 49 / 255, 0.23, 3 / 255, project=True, periodic=True, ensemble_last=n) for n in (1, 4)]
             # the top level for inpainting (DPIR's 49 / 255 elsewhere)
             + [Schedule(32, top, 0.23, 3 / 255, project=True, periodic=True, ensemble_last=4)
                for top in (25 / 255, 100 / 255)],
    "patch": [Schedule(steps, 49 / 255, lam) for steps in (4, 8) for lam in (0.23, 1.0)]
             + [Schedule(steps, 49 / 255, 0.23, project=True) for steps in (4, 8)],
}
RICHARDSON_LUCY = (10, 30, 100)
# The time budget, 10 s per image on 2 cores, in network passes of the conv prior per 512x512 image: the
# slowest step measured there was 0.32 s (Set12's 80% inpainting, 32 periodic steps in 8.4 to 10.1 s, on the slowest
# machine of these sessions: benchmarks/machine_speed.py 381 GFLOP/s against the 807 the accelerators issue quotes);
# 10 s / 0.32 s with a tenth kept as margin is 28 passes.
PASS_BUDGET = 28


def network_passes(schedule):
    """The image prior's network passes of a schedule: one per step, 8 for each of the last ensemble_last."""
    return schedule.steps + 7 * schedule.ensemble_last


def label(kind, schedule):
    """A row's method name: "KIND Schedule(steps=.., top=.., lam=.., bottom=..)", then " projected" for project=True
    and " periodic" for periodic=True (the names of the rows measured before Schedule had `project` and `periodic`
    stay as they were)."""
    plain = repr(dataclasses.replace(schedule, project=False, periodic=False))
    plain = plain.replace(", project=False", "").replace(", periodic=False", "").replace(", ensemble_last=0", "")
    return f"{kind} {plain}" + (" projected" if schedule.project else "") + (" periodic" if schedule.periodic else "")


def choose(results, kinds):
    """results["chosen"]: for each prior kind and degradation kind the schedule of GRID with the best mean PSNR over
    the kind's tasks among those within the time budget (for the image prior: PASS_BUDGET), and the best
    Richardson-Lucy iteration count (printed too)."""
    results["chosen"] = {}
    for kind in kinds:
        for degradation, tasks in KINDS.items():
            scores = {}
            for schedule in GRID[kind]:
                if kind == "image" and network_passes(schedule) > PASS_BUDGET:
                    continue
                name = label(kind, schedule)
                rows = [r for r in results["rows"] if r["method"] == name and r["task"] in tasks]
                if {r["task"] for r in rows} == set(tasks):  # measured on every task of the kind
                    scores[name] = float(np.mean([r["psnr"] for r in rows]))
            best = max(scores, key=scores.get)
            seconds = max(r["seconds_256"] for r in results["rows"] if r["method"] == best and r["task"] in tasks)
            results["chosen"][f"{degradation}, {kind}"] = best
            print(f"chosen for {degradation}, {kind}: {best} ({scores[best]:.2f} dB, {seconds:.1f} s per 256x256 "
                  "as measured here)")
    deblur = {r["method"]: r["psnr"] for r in results["rows"] if r["task"] == "deblur" and "Richardson" in r["method"]}
    results["chosen"]["Richardson-Lucy"] = max(deblur, key=deblur.get)
    print(f"chosen Richardson-Lucy: {results['chosen']['Richardson-Lucy']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--conv", default="conv")
    parser.add_argument("--kinds", default="image,patch")
    parser.add_argument("--tasks", default=",".join(bench.TASKS))
    parser.add_argument("--match", default="", help="only the schedules whose name contains this")
    parser.add_argument("--patch_stride", type=int, default=1, help="the patch prior's patch grid step (rows of "
                        "another stride are named ' stride N')")
    parser.add_argument("--output", default=os.path.join(bench.RESULTS, "restore_validation.json"))
    parser.add_argument("--choose_only", action="store_true", help="apply the rule to the rows in --output again")
    args = parser.parse_args()
    if args.choose_only:
        with open(args.output) as f:
            results = json.load(f)
        choose(results, args.kinds.split(","))
        write(args.output, results, [])
        return
    files = image_files(TRAIN400)[::conv_prior.VALIDATION_EVERY][:args.images]
    images = [(os.path.basename(f), read_image(f, channels=1)[..., 0].astype(np.float32) / 255) for f in files]
    priors = {"image": denoise_lib.load_prior(args.conv), "patch": denoise_lib.load_prior("gmm")}
    scale = 256 * 256 / np.mean([c.size for _, c in images])
    results = {"machine": machine(), "validation_images": [n for n, _ in images], "rows": [], "chosen": {}}
    kinds, tasks = args.kinds.split(","), args.tasks.split(",")
    old = []
    if (set(kinds) != set(GRID) or set(tasks) != set(bench.TASKS) or args.match) and os.path.isfile(args.output):
        with open(args.output) as f:
            previous = json.load(f)
        if previous["validation_images"] != results["validation_images"]:
            sys.exit(f"error: {args.output} was measured on other images; run everything")
        old = previous["rows"]
    for task in tasks:
        t = bench.TASKS.index(task)
        methods = {}
        if task == "deblur":
            for n in RICHARDSON_LUCY:
                methods.update(bench.baselines(task, n))
        else:
            methods.update(bench.baselines(task))
        if args.match:  # the baselines only where they are asked for
            methods = {k: v for k, v in methods.items() if args.match in k}
        for kind in kinds:
            for schedule in GRID[kind]:
                if (schedule.project and task not in KINDS["Inpaint"]) or args.match not in label(kind, schedule):
                    continue
                stride = args.patch_stride if kind == "patch" else 1
                name = label(kind, schedule) + (f" stride {stride}" if stride != 1 else "")
                methods[name] = (lambda s, p, k: lambda y, d: restore_lib.restore(y, d, p, s, stride=k).numpy())(
                    schedule, priors[kind], stride)
        bench.warm_up(methods, task, sorted({c.shape for _, c in images}))
        rows = bench.measure(methods, task, images, 1000 * t)  # the test run's seeds, on other images
        for name, row in rows.items():
            entry = {"task": task, "method": name, "psnr": float(np.mean(row["psnr"])),
                     "seconds_256": float(np.mean(row["seconds"]) * scale)}
            results["rows"].append(entry)
            print(f"{task:10s} {name:70s} {entry['psnr']:6.2f} dB {entry['seconds_256']:6.2f} s", flush=True)
        write(args.output, results, old)  # after every task: a stopped run keeps what it measured
    results = {**results, "rows": merged(results["rows"], old)}
    choose(results, sorted({r["method"].split(" ")[0] for r in results["rows"]} & set(GRID)))
    write(args.output, results, [])


def merged(rows, old):
    """rows, then the rows of old that they do not measure again (same task and method)."""
    measured = {(r["task"], r["method"]) for r in rows}
    return rows + [r for r in old if (r["task"], r["method"]) not in measured]


def write(path, results, old):
    with open(path + ".tmp", "w") as f:
        json.dump({**results, "rows": merged(results["rows"], old)}, f, indent=2)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
