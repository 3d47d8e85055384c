"""tfvae/quiet.py: programs that import it first print none of TensorFlow's start-up lines and no Keras shuffle
warning, and other stderr output still shows. Each check runs a fresh Python (the lines come once per process)."""

import os
import subprocess
import sys

import pytest

from tfvae import quiet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIT = ("import keras, numpy as np, tensorflow as tf\n"
       "model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])\n"
       "model.compile(optimizer='sgd', loss='mse')\n"
       "model.fit(tf.data.Dataset.from_tensor_slices((np.ones((4, 2)), np.ones((4, 1)))).batch(2), verbose=0)\n"
       "print('fitted')\n")


def stderr_of(code, **env):
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    environment.update(env)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True,
                            timeout=300, check=True)
    return result.stderr


def startup_lines(stderr):
    return [line for line in stderr.splitlines() if quiet.is_startup_line(line)]


@pytest.fixture(scope="module")
def unquiet():
    """stderr of a plain `import tensorflow` and a Keras fit on a dataset: what the measures remove."""
    stderr = stderr_of(FIT)
    if not startup_lines(stderr):
        pytest.skip("this TensorFlow prints no start-up lines here: nothing to remove")
    return stderr


def test_quiet_import_removes_the_startup_lines_and_the_shuffle_warning(unquiet):
    assert "shuffle=True" in unquiet  # the control: Keras warns without the filter
    stderr = stderr_of("import tfvae.quiet\n" + FIT)
    assert startup_lines(stderr) == [] and "shuffle=True" not in stderr, stderr
    assert "cpu_feature_guard" not in stderr and "All log messages before" not in stderr


def test_other_output_in_the_filtered_window_still_shows():
    code = ("import os, sys\n"
            "from tfvae import quiet\n"
            "with quiet.filtered_stderr():\n"
            "    os.write(2, b'I0000 port.cc:153] oneDNN custom operations are on. ...\\nkeep this line\\n')\n"
            "    print('and this one', file=sys.stderr)\n")
    stderr = stderr_of(code)
    assert "keep this line" in stderr and "and this one" in stderr and "oneDNN" not in stderr


def test_a_user_asking_for_all_logs_gets_them(unquiet):
    stderr = stderr_of("import tfvae.quiet\nimport tensorflow", TF_CPP_MIN_LOG_LEVEL="0")
    assert len(startup_lines(stderr)) == len(startup_lines(unquiet))  # level 0 is also TensorFlow's default


def test_the_library_alone_sets_nothing():
    code = "import os, tfvae, tfvae.seeds, tfvae.data\nprint(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))"
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True,
                            timeout=300, check=True)
    assert result.stdout.strip() == "None"
