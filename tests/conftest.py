"""Test set-up: 2 logical CPU devices (for the 1-vs-2-replica tests), quiet logs, absl flags parsed; the fixtures
the modules share: tiny data, the apps' real runs (tests/app_runs.py) and the fresh-process reload of exports."""

import concurrent.futures
import json
import os
import pickle
import select
import shutil
import subprocess
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import flags  # noqa: E402

from tfvae import distribute  # noqa: E402

# Before TensorFlow initializes its devices: split the CPU so MirroredStrategy can run 2 replicas on it.
distribute.split_cpu(2)
flags.FLAGS.mark_as_parsed()  # absl flags are unparsed under pytest; apps' main() reads their defaults



@pytest.fixture
def tiny_npz(tmp_path):
    """An npz data set of 64 train and 16 test 8x8 grey images with labels (tests/app_runs.py), as used by app tests."""
    from app_runs import write_tiny_npz  # pylint: disable=g-import-not-at-top

    return write_tiny_npz(tmp_path / "tiny.npz")


@pytest.fixture(scope="session")
def session_npz(tmp_path_factory):
    """tiny_npz's data set, written once, for module-scoped fixtures."""
    from app_runs import write_tiny_npz  # pylint: disable=g-import-not-at-top

    return write_tiny_npz(tmp_path_factory.mktemp("data") / "tiny.npz")


@pytest.fixture(scope="session")
def app_runs(tmp_path_factory):
    """AppRuns (tests/app_runs.py): app_runs.get(*families) -> {family: Run} of the apps run through `python -m`,
    each family once per session. A module that uses it names the families it needs in APP_RUNS."""
    import app_runs as runs_lib  # pylint: disable=g-import-not-at-top

    return runs_lib.AppRuns(tmp_path_factory.mktemp("apps"))


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true",
                     help="also run the tests marked slow (pytest.ini): the long tier (alone: 19 tests, 94 s on 2 cores)")


def pytest_collection_modifyitems(config, items):
    """Without --slow, the tests marked slow are deselected (and the background work only they use never starts).
    The modules whose work starts with the session in the background (APP_RUNS, BACKGROUND: background_work) run
    last, so that it is done when they start: those with APP_RUNS, the longest of it, after those with BACKGROUND
    only. The order is otherwise kept."""
    if not config.getoption("--slow"):
        slow = [item for item in items if item.get_closest_marker("slow")]
        if slow:
            config.hook.pytest_deselected(items=slow)
            items[:] = [item for item in items if not item.get_closest_marker("slow")]
    items.sort(key=lambda item: (hasattr(item.module, "APP_RUNS"), hasattr(item.module, "BACKGROUND")))  # stable


class Background:
    """Work that tests wait for, done in threads while other tests run (the second core is mostly idle otherwise):
    get(job) -> a Future of job(a new temporary folder, this Background), started on the first get.

    A module names its jobs in BACKGROUND = {fixture name: job}: background_work starts a job with the session when a
    selected test uses that fixture. A job may wait for another (get(other).result()), reload exports (reload) and
    compute in a fresh process (elsewhere): the tests' own process is the suite's longest chain of work, so what can
    run beside it should.
    """

    def __init__(self, tmp_path_factory, reload):
        self.tmp_path_factory, self.reload = tmp_path_factory, reload
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=8)
        self.futures, self.lock = {}, threading.Lock()

    def get(self, job):
        with self.lock:
            key = f"{job.__module__}.{job.__name__}"
            if key not in self.futures:
                self.futures[key] = self.executor.submit(job, self.tmp_path_factory.mktemp(job.__name__), self)
            return self.futures[key]

    TIMEOUT = 1800  # seconds for one elsewhere() (at a low priority: app_runs.niced)

    @staticmethod
    def elsewhere(function, work):
        """function(work) computed in a fresh Python process set up as this one (tests/elsewhere.py), which a job
        waits for: its work runs on the other core, at a lower priority (app_runs.niced), instead of in the tests'
        process. Returns what function returns (pickled: arrays, numbers, strings); raises AssertionError with the
        process's output if it fails."""
        from app_runs import niced  # pylint: disable=g-import-not-at-top

        out = os.path.join(work, "elsewhere.pickle")
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "elsewhere.py")
        command = niced([sys.executable, script, function.__module__, function.__name__, str(work), out])
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=Background.TIMEOUT)
        if result.returncode != 0 or not os.path.exists(out):
            raise AssertionError(f"{function.__module__}.{function.__name__} in a fresh process: exit status "
                                 f"{result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
        with open(out, "rb") as f:
            return pickle.load(f)


@pytest.fixture(scope="session")
def background(tmp_path_factory):
    # The jobs reload in a process of their own (started when a job first reloads), at a low priority: a job's
    # reload, which may take long, never makes a test's reload wait.
    reloader = Reloader(tmp_path_factory.mktemp("reload_background"), niced=True)
    work = Background(tmp_path_factory, reloader)
    yield work
    work.executor.shutdown(wait=True)
    reloader.close()


@pytest.fixture(scope="session", autouse=True)
def background_work(request):
    """Starts with the session what the selected tests will wait for: the apps' runs their modules name in
    APP_RUNS, the jobs they name in BACKGROUND, and the reload process (its TensorFlow import)."""
    items = request.session.items
    families = sorted({family for item in items if "app_runs" in item.fixturenames
                       for family in getattr(item.module, "APP_RUNS", ())})
    if families:
        request.getfixturevalue("app_runs").start(*families)
    if any("reload" in item.fixturenames for item in items):
        request.getfixturevalue("reload").start()
    for item in items:
        for fixture, job in getattr(item.module, "BACKGROUND", {}).items():
            if fixture in item.fixturenames:
                request.getfixturevalue("background").get(job)


# --- SavedModels reloaded in a fresh process --------------------------------------------------------------------------
RELOADER = r"""
import sys
# From here on `import tfvae` raises: the exports must stand on their own. Serving needs no Keras or TFP either.
BLOCKED = ("tfvae", "keras", "tensorflow_probability")
for name in BLOCKED:
    sys.modules[name] = None

import json
import os
import traceback

import numpy as np
import tensorflow as tf

import serving_rest  # copied next to this script: NumPy and TensorFlow only

try:
    import tfvae  # noqa: F401
except ImportError:
    pass
else:
    sys.exit("tfvae is importable in the loader")
root = sys.argv[1]
# The source tree must not be importable (a virtualenv inside the checkout is fine: tfvae is blocked above anyway).
if any(os.path.commonpath([root, os.path.abspath(p or os.getcwd())]) == root and "site-packages" not in p
       for p in sys.path):
    sys.exit(f"the repository {root} is on sys.path: {sys.path}")


def call(loaded, name, arguments, inputs):
    return loaded.signatures[name](**{arg: tf.constant(inputs[source]) for arg, source in arguments.items()})


def run(plan_file):
    with open(plan_file) as f:
        plan = json.load(f)
    for job in plan:
        loaded = tf.saved_model.load(job["export_dir"])
        inputs = np.load(job["inputs"])
        outputs = {"signature_names": np.array(sorted(loaded.signatures))}
        for key, (name, arguments) in job["calls"].items():
            for output, value in call(loaded, name, arguments, inputs).items():
                outputs[f"{key}.{output}"] = value.numpy()
        np.savez(job["outputs"], **outputs)
        errors = {}
        for key, (name, arguments) in job["bad_calls"].items():
            try:
                call(loaded, name, arguments, inputs)
                errors[key] = "no error"
            except tf.errors.InvalidArgumentError as e:
                errors[key] = e.message
        responses = []
        for body in job["requests"]:
            try:
                responses.append(serving_rest.predict(loaded, body))
            except (serving_rest.RequestError, tf.errors.InvalidArgumentError) as e:  # TF Serving: an error answer
                responses.append({"error": str(e)[:2000]})
        with open(job["answers"], "w") as f:
            json.dump({"errors": errors, "responses": responses}, f)
    imported = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED and sys.modules[m] is not None)
    if imported:
        raise RuntimeError(f"loading imported {imported}")


for line in sys.stdin:  # one plan file per line; each answered by a line DONE <"ok" or the error, as JSON>
    try:
        run(line.strip())
        status = "ok"
    except Exception:  # pylint: disable=broad-except
        status = traceback.format_exc()
    print("DONE " + json.dumps(status), flush=True)
"""


class Reloader:
    """reload(jobs) -> results: loads every export of `jobs` in a fresh Python process that cannot import tfvae,
    Keras or TFP, and calls their signatures by name there, as TF Serving would.

    The process is started on first use and serves every reload of the session (TensorFlow's import, seconds,
    would otherwise dominate each); it holds no export between calls. A call that fails it starts another.
    niced: the process runs at a low priority (app_runs.niced), for the background jobs' reloads.

    jobs: [{"export_dir": path, "inputs": {name: array},
            "calls": {key: (signature, {argument: input name})},
            "bad_calls": {key: (signature, {argument: input name})} (optional: calls expected to be refused),
            "requests": [a REST request body] (optional: answered by tests/serving_rest.py)}].
    Returns, per job, {"outputs": {"KEY.OUTPUT": array, "signature_names": array of the signatures' names},
    "errors": {key: the InvalidArgumentError's message, or "no error"}, "responses": [the answer to each request]}.
    """

    TIMEOUT = 600  # seconds for one call (twice that niced, behind the tests)

    def __init__(self, work, niced=False):
        self.work, self.niced = str(work), niced
        assert os.path.commonpath([ROOT, self.work]) != ROOT
        self.process, self.calls = None, 0
        self.lock = threading.Lock()

    def start(self):
        """Starts the process now (it imports TensorFlow while the tests go on)."""
        with self.lock:
            if self.process is None:
                self._start()

    def _start(self):
        import serving_rest  # pylint: disable=g-import-not-at-top

        with open(os.path.join(self.work, "load.py"), "w") as f:
            f.write(RELOADER)
        shutil.copy(serving_rest.__file__, os.path.join(self.work, "serving_rest.py"))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        self.log = os.path.join(self.work, f"loader-{self.calls}.log")
        with open(self.log, "w") as log:
            command = [sys.executable, os.path.join(self.work, "load.py"), ROOT]
            if self.niced:
                from app_runs import niced  # pylint: disable=g-import-not-at-top

                command = niced(command)
            self.process = subprocess.Popen(command, cwd=self.work, env=env, stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=log, text=True)

    def _failed(self, why):
        self.process.kill()
        self.process.wait()
        self.process = None
        with open(self.log) as f:
            return f"{why}\n{f.read()[-3000:]}"

    def __call__(self, jobs):
        with self.lock:
            return self._reload(jobs)

    def _reload(self, jobs):
        if self.process is None:
            self._start()
        self.calls += 1
        folder = os.path.join(self.work, f"call-{self.calls}")
        os.makedirs(folder)
        plan = []
        for i, job in enumerate(jobs):
            inputs = os.path.join(folder, f"inputs-{i}.npz")
            np.savez(inputs, **job["inputs"])
            plan.append({"export_dir": job["export_dir"], "inputs": inputs, "calls": job["calls"],
                         "bad_calls": job.get("bad_calls", {}), "requests": job.get("requests", []),
                         "outputs": os.path.join(folder, f"outputs-{i}.npz"),
                         "answers": os.path.join(folder, f"answers-{i}.json")})
        with open(os.path.join(folder, "plan.json"), "w") as f:
            json.dump(plan, f)
        self.process.stdin.write(os.path.join(folder, "plan.json") + "\n")
        self.process.stdin.flush()
        timeout = self.TIMEOUT * (2 if self.niced else 1)
        deadline = time.time() + timeout
        while True:
            if not select.select([self.process.stdout], [], [], max(0.0, deadline - time.time()))[0]:
                raise AssertionError(self._failed(f"the loader did not answer in {timeout} s"))
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError(self._failed(f"the loader ended (exit status {self.process.wait()})"))
            if line.startswith("DONE "):
                status = json.loads(line[len("DONE "):])
                break
        if status != "ok":
            raise AssertionError(self._failed(status))
        results = []
        for job in plan:
            with np.load(job["outputs"]) as f:
                outputs = dict(f)
            with open(job["answers"]) as f:
                results.append({"outputs": outputs, **json.load(f)})
        return results

    def close(self):
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait(timeout=60)


@pytest.fixture(scope="session")
def reload(tmp_path_factory):
    """reload(jobs) -> results (Reloader): the exports of jobs reloaded in a fresh process without tfvae."""
    reloader = Reloader(tmp_path_factory.mktemp("reload"))
    yield reloader
    reloader.close()
