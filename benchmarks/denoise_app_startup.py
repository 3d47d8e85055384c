"""What a user running `apps.denoise` once waits: the wall clock of the whole command on one 256x256 image (Python and
TensorFlow start-up, loading the prior, building its graph for that size, denoising, writing the PNG).

    python benchmarks/denoise_app_startup.py [--repeats=3] [--output=benchmarks/results/denoise_app_startup.json]

The image is Set12's 01.png (256x256) with noise of sigma 25 added by the app (--add_noise, seed 0); each setting runs
--repeats times in fresh processes, and the JSON holds every wall time and the app's own line. Settings: the default
(the conv prior's self-ensemble), its one pass (--ensemble=1) and EPLL with the GMM (--prior_path=gmm).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import machine  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = os.path.join(ROOT, "..", "shared", "data", "denoise", "set12", "01.png")
SETTINGS = {"default (conv prior, self-ensemble x8)": [], "conv prior, one pass (--ensemble=1)": ["--ensemble=1"],
            "EPLL, GMM prior (--prior_path=gmm)": ["--prior_path=gmm"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timing_note", default=None, help="a note on the timings (e.g. that the machine was shared)")
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "results", "denoise_app_startup.json"))
    args = parser.parse_args()
    if not os.path.isfile(IMAGE):
        sys.exit(f"error: no image at {IMAGE}")
    results = {"machine": machine(), "image": os.path.relpath(IMAGE, ROOT), "timing_note": args.timing_note,
               "settings": {}}
    with tempfile.TemporaryDirectory() as work:
        for name, extra in SETTINGS.items():
            walls, lines = [], []
            for _ in range(args.repeats):
                command = [sys.executable, "-m", "apps.denoise", f"--input={IMAGE}", "--sigma=25", "--add_noise",
                           f"--output={os.path.join(work, 'out.png')}", *extra]
                start = time.perf_counter()
                run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
                walls.append(time.perf_counter() - start)
                if run.returncode:
                    sys.exit(f"error: {' '.join(command)} failed:\n{run.stderr[-2000:]}")
                lines.append(run.stdout.strip().splitlines()[-1])
            results["settings"][name] = {"wall_s": walls, "median_wall_s": sorted(walls)[len(walls) // 2],
                                         "last_line": lines[-1]}
            median = results["settings"][name]["median_wall_s"]
            print(f"{name:45s} median {median:5.1f} s wall ({', '.join(f'{w:.1f}' for w in walls)}); {lines[-1]}",
                  flush=True)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output + ".tmp", "w") as f:
        json.dump(results, f, indent=2)
    os.replace(args.output + ".tmp", args.output)
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
