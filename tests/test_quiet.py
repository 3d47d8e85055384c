"""tfvae/quiet.py: programs that import it first print none of TensorFlow's start-up lines and no Keras shuffle
warning, and other stderr output still shows. Each check runs a fresh Python (the lines come once per process);
they all run in the background with the session (tests/conftest.py: BACKGROUND), one after another and at a low
priority (app_runs.niced), while other tests run."""

import os
import subprocess
import sys

import pytest

from app_runs import niced
from tfvae import quiet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIT = ("import keras, numpy as np, tensorflow as tf\n"
       "model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])\n"
       "model.compile(optimizer='sgd', loss='mse')\n"
       "model.fit(tf.data.Dataset.from_tensor_slices((np.ones((4, 2)), np.ones((4, 1)))).batch(2), verbose=0)\n"
       "print('fitted')\n")
# name -> (the program, what its environment adds to a user's shell's: no TF_CPP_MIN_LOG_LEVEL)
PROGRAMS = {
    "unquiet": (FIT, {}),  # a plain `import tensorflow` and a Keras fit on a dataset: what the measures remove
    "quiet": ("import tfvae.quiet\n" + FIT, {}),
    "filtered_window": ("import os, sys\n"
                        "from tfvae import quiet\n"
                        "with quiet.filtered_stderr():\n"
                        "    os.write(2, b'I0000 port.cc:153] oneDNN custom operations are on. ...\\n'\n"
                        "             b'keep this line\\n')\n"
                        "    print('and this one', file=sys.stderr)\n", {}),
    "all_logs": ("import tfvae.quiet\nimport tensorflow", {"TF_CPP_MIN_LOG_LEVEL": "0"}),
    "library_alone": ("import os, tfvae, tfvae.seeds, tfvae.data\nprint(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))", {}),
}


def run_programs(work, background):
    """(A background job.) name -> the finished process (subprocess.CompletedProcess) of each of PROGRAMS, each in a
    fresh Python."""
    del work, background
    ran = {}
    for name, (code, env) in PROGRAMS.items():
        environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
        environment.update(env)
        ran[name] = subprocess.run(niced([sys.executable, "-c", code]), cwd=ROOT, env=environment,
                                   capture_output=True, text=True, timeout=600)
    return ran


BACKGROUND = {"ran": run_programs}  # started with the session (tests/conftest.py)


@pytest.fixture
def ran(background):
    return background.get(run_programs).result()


def output_of(ran, name):
    """(stdout, stderr) of PROGRAMS[name], which must have exited with 0."""
    result = ran[name]
    assert result.returncode == 0, f"{name}: exit status {result.returncode}\n{result.stderr[-3000:]}"
    return result.stdout, result.stderr


def startup_lines(stderr):
    return [line for line in stderr.splitlines() if quiet.is_startup_line(line)]


@pytest.fixture
def unquiet(ran):
    """stderr of a plain `import tensorflow` and a Keras fit on a dataset: what the measures remove."""
    stderr = output_of(ran, "unquiet")[1]
    if not startup_lines(stderr):
        pytest.skip("this TensorFlow prints no start-up lines here: nothing to remove")
    return stderr


def test_quiet_import_removes_the_startup_lines_and_the_shuffle_warning(unquiet, ran):
    assert "shuffle=True" in unquiet  # the control: Keras warns without the filter
    stderr = output_of(ran, "quiet")[1]
    assert startup_lines(stderr) == [] and "shuffle=True" not in stderr, stderr
    assert "cpu_feature_guard" not in stderr and "All log messages before" not in stderr


def test_other_output_in_the_filtered_window_still_shows(ran):
    stderr = output_of(ran, "filtered_window")[1]
    assert "keep this line" in stderr and "and this one" in stderr and "oneDNN" not in stderr


def test_a_user_asking_for_all_logs_gets_them(unquiet, ran):
    stderr = output_of(ran, "all_logs")[1]
    assert len(startup_lines(stderr)) == len(startup_lines(unquiet))  # level 0 is also TensorFlow's default


def test_the_library_alone_sets_nothing(ran):
    assert output_of(ran, "library_alone")[0].strip() == "None"
