"""The apps' real runs, each family's once per test session: its command lines run through `python -m` in
subprocesses (tests/cli_driver.py), on tiny data written here. tests/test_cli.py checks what they print and write;
tests/test_colorize.py and tests/test_conditional_apps.py take their trained model_dirs instead of training again.

A family's commands come in two phases: first what trains (apps.train, a later --stage), then what reads the
trained run (apps.evaluate, python -m export). Each phase's commands of several families share one process per
group, the groups run side by side, and what reads a run never shares a process with what trained it (so an import
that only training makes cannot hide a missing one in apps.evaluate or export). tests/conftest.py starts the runs
the selected modules name in APP_RUNS with the session, in the background, and runs those modules last.
"""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading

import numpy as np

from tfvae.data import write_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cli_driver.py")
METADATA = os.path.join("assets.extra", "tfvae_metadata.json")  # in an export: what tfvae wrote about it
APPS = ("apps.train", "apps.evaluate", "apps.sample", "apps.classify", "apps.denoise", "apps.train_patch_prior",
        "apps.train_denoiser", "apps.colorize", "export")
GROUPS = 2  # processes side by side per phase (the machines running the suite have 2 cores)


def niced(command):
    """command (a list) to run at a lower priority, where `nice` exists: work in the background, which the tests
    wait for only later, then yields the CPU to the tests running meanwhile instead of taking turns with them."""
    return ["nice", "-n", "10", *command] if shutil.which("nice") else command

# Each training run is its in-process test's former run: tiny networks, one or two epochs of 64 or 9 images, no XLA
# (compiling would take longer than the epochs; tests/test_training.py trains with it).
LABELLED = ["--architecture=mlp", "--hidden_units=8", "--latent_dim=2", "--batch_size=16", "--epochs=1",
            "--jit_compile=false", "--steps_per_execution=1"]


def blobs(shape, seed):
    """uint8 RGB [H, W, 3] of smooth colour blobs."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.linspace(0, 3, shape[1]), np.linspace(0, 3, shape[0])), -1)
    layers = [0.5 + 0.45 * np.sin(grid @ rng.normal(size=2) + rng.uniform(0, 6)) for _ in range(3)]
    return np.round(np.stack(layers, -1) * 255).astype(np.uint8)


def write_tiny_npz(path):
    """An npz data set of 64 train and 16 test 8x8 grey images with labels, as used by app tests; returns its path."""
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (64, 8, 8), dtype=np.uint8),
             x_test=rng.integers(0, 256, (16, 8, 8), dtype=np.uint8),
             y_train=rng.integers(0, 10, 64), y_test=rng.integers(0, 10, 16))
    return str(path)


def write_data(work):
    """(the npz of 64 train and 16 test 8x8 grey images, every class 0..9 at least 6 times; a folder of ten colour
    pictures, 20..29 x 24, in two subfolders) under work."""
    rng = np.random.default_rng(0)
    npz = os.path.join(work, "tiny.npz")
    np.savez(npz, x_train=rng.integers(0, 256, (64, 8, 8), dtype=np.uint8), y_train=np.arange(64) % 10,
             x_test=rng.integers(0, 256, (16, 8, 8), dtype=np.uint8), y_test=np.arange(16) % 10)
    folder = os.path.join(work, "colour")
    for i in range(10):
        os.makedirs(os.path.join(folder, "a" if i < 5 else "b"), exist_ok=True)
        write_image(os.path.join(folder, "a" if i < 5 else "b", f"{i}.png"), blobs((20 + i, 24), i))
    return npz, folder


def classify(model_dir, m1_labels):
    return [f"--model_dir={model_dir}", f"--m1_labels={m1_labels}"]


def commands(family, work, npz, folder):
    """(training commands, commands that read the trained run) of a family: lists of (name, module, args)."""
    model_dir = os.path.join(work, family)
    export_dir = os.path.join(work, "serving", family, "1")
    export = ("export", "export", [f"--model_dir={model_dir}", f"--export_dir={export_dir}"])
    evaluate = ("evaluate", "apps.evaluate", [f"--model_dir={model_dir}"])
    data = [f"--dataset=npz:{npz}", f"--model_dir={model_dir}"]
    if family == "help":
        return [(app, app, ["--help"]) for app in APPS], []
    if family == "vae":
        train = [*data, "--model=vae", "--architecture=mlp", "--hidden_units=8", "--latent_dim=2", "--batch_size=16",
                 "--epochs=2", "--jit_compile=false"]
        evaluate = (*evaluate[:2], [*evaluate[2], "--num_samples=20", "--surgery_samples=16"])
        return [("train", "apps.train", train)], [evaluate, export]
    if family == "vae_flow":  # IAF posterior, RealNVP prior: the rate has no closed form
        train = [*data, "--model=vae", "--architecture=mlp", "--hidden_units=8", "--latent_dim=2", "--batch_size=16",
                 "--epochs=1", "--jit_compile=false", "--posterior=iaf", "--flow_steps=2", "--prior=realnvp",
                 "--prior_steps=2", "--flow_width=8"]
        return [("train", "apps.train", train)], [(*evaluate[:2], [*evaluate[2], "--num_samples=10",
                                                                   "--surgery_samples=16"])]
    if family == "vqvae":
        train = [*data, "--model=vqvae", "--levels=2", "--hidden_units=4,6", "--num_codes=6", "--code_dim=3",
                 "--likelihood=gaussian", "--batch_size=16", "--epochs=1", "--jit_compile=false"]
        prior = [f"--model_dir={model_dir}", "--stage=prior", "--class_conditional=true", "--pixelcnn_layers=2",
                 "--pixelcnn_filters=5", "--epochs=1", "--batch_size=16", "--jit_compile=false"]
        return [("train", "apps.train", train), ("prior", "apps.train", prior)], [evaluate, export]
    if family == "cvae":
        return [("train", "apps.train", [*data, "--model=cvae", *LABELLED])], [export]
    if family == "m2":
        train = [*data, "--model=m2", *LABELLED, "--num_labels=20", "--labelled_fraction=0.25"]
        return [("train", "apps.train", train)], [export, ("classify", "apps.classify", classify(model_dir, 10))]
    if family == "m1_m2":  # M1 (a vae with 3 latents, in WORK/m1), then M2 on its latents (in WORK/m1_m2)
        m1_dir = os.path.join(work, "m1")
        m1 = [f"--dataset=npz:{npz}", f"--model_dir={m1_dir}", "--model=vae", *LABELLED, "--latent_dim=3"]
        m1_m2 = [*data, "--model=m2", *LABELLED, "--num_labels=10", f"--m1_dir={m1_dir}"]
        return ([("m1", "apps.train", m1), ("train", "apps.train", m1_m2)],
                [("classify", "apps.classify", classify(model_dir, 10)),
                 ("classify_m1", "apps.classify", classify(m1_dir, 10)),
                 ("classify_m1_too_few", "apps.classify", classify(m1_dir, 9))])
    if family == "colorize":
        train = [f"--dataset=folder:{folder}", f"--model_dir={model_dir}", "--model=colorize", "--image_size=16",
                 "--hidden_units=8,12", "--num_segments=5", "--batch_size=8", "--epochs=1", "--jit_compile=false"]
        return [("train", "apps.train", train)], [evaluate, export]
    raise ValueError(family)


# Seconds of work per phase, as measured, to share the work out between the processes of a phase.
COST = [{"help": 2, "vae": 6, "vae_flow": 8, "vqvae": 23, "cvae": 3, "m2": 3, "m1_m2": 6, "colorize": 13},
        {"help": 0, "vae": 5, "vae_flow": 4, "vqvae": 13, "cvae": 2, "m2": 4, "m1_m2": 6, "colorize": 12}]


@dataclasses.dataclass
class Result:
    """One command line's exit status and what it printed."""

    module: str
    args: list
    status: int
    stdout: str
    stderr: str
    seconds: float

    def __str__(self):
        return (f"python -m {self.module} {' '.join(self.args)}\nexit status {self.status} after {self.seconds:.1f} s\n"
                f"--- stdout (end) ---\n{self.stdout[-3000:]}\n--- stderr (end) ---\n{self.stderr[-3000:]}")


@dataclasses.dataclass
class Run:
    """A family's run: its model_dir, the export of `python -m export`, {command name: Result}."""

    family: str
    model_dir: str
    export_dir: str
    results: dict


class AppRuns:
    """get(*families) -> {family: Run}, running each family's commands the first time it is asked for;
    start(*families) runs them in a background thread, which get then waits for."""

    def __init__(self, work):
        self.work = str(work)
        self.npz, self.folder = write_data(self.work)
        self.runs = {}
        self.plans = 0
        self.lock = threading.Lock()

    def start(self, *families):
        def run():
            try:
                with self.lock:
                    self._get(families)
            except Exception:  # pylint: disable=broad-except
                pass  # get() in the test that needs the run tries again, and reports

        threading.Thread(target=run, daemon=True).start()

    def get(self, *families):
        with self.lock:
            return self._get(families)

    def _get(self, families):
        missing = [f for f in families if f not in self.runs]
        if missing:
            planned = {f: commands(f, self.work, self.npz, self.folder) for f in missing}
            results = {}
            for phase in (0, 1):
                results.update(self._run_phase({f: planned[f][phase] for f in missing}, COST[phase]))
            for f in missing:
                self.runs[f] = Run(f, os.path.join(self.work, f), os.path.join(self.work, "serving", f, "1"),
                                   {name: results[f, name] for name, _, _ in planned[f][0] + planned[f][1]})
        return {f: self.runs[f] for f in families}

    def _run_phase(self, family_commands, cost):
        """Runs the families' commands in up to GROUPS processes side by side; {(family, name): Result}."""
        groups = [[] for _ in range(GROUPS)]
        for family in sorted(family_commands, key=lambda f: -cost[f]):  # the longest first, onto the lightest group
            if family_commands[family]:
                min(groups, key=lambda g: sum(cost[f] for f, _ in g)).append((family, family_commands[family]))
        processes = []
        for group in filter(None, groups):
            self.plans += 1
            plan, files = [], {}
            for family, cmds in group:
                for name, module, args in cmds:
                    stem = os.path.join(self.work, f"{family}-{name}".replace("/", "_"))
                    plan.append({"module": module, "args": args, "stdout": f"{stem}.out", "stderr": f"{stem}.err",
                                 "status": f"{stem}.status"})
                    files[family, name] = (module, args, stem)
            plan_file = os.path.join(self.work, f"plan-{self.plans}.json")
            with open(plan_file, "w") as f:
                json.dump(plan, f)
            log = open(os.path.join(self.work, f"plan-{self.plans}.log"), "w")
            env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}
            command = niced([sys.executable, DRIVER, plan_file])
            processes.append((subprocess.Popen(command, cwd=self.work, env=env, stdout=log, stderr=subprocess.STDOUT),
                              log, files))
        results = {}
        for process, log, files in processes:
            try:
                process.wait(timeout=1800)  # at a low priority (niced) on a busy machine: minutes
            finally:
                process.kill()  # (a no-op once it has ended)
                log.close()
            for key, (module, args, stem) in files.items():
                read = lambda suffix: open(stem + suffix).read() if os.path.exists(stem + suffix) else ""  # noqa: E731
                status = json.loads(read(".status") or '{"status": null, "seconds": 0}')
                stderr = (read(".err") if status["status"] is not None
                          else f"(the process ended first)\n{open(log.name).read()[-3000:]}")
                results[key] = Result(module, args, status["status"], read(".out"), stderr, status["seconds"])
        return results
