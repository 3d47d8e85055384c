"""`python tests/elsewhere.py MODULE FUNCTION WORK OUT`: pickles MODULE.FUNCTION(WORK as a pathlib.Path) to OUT, in
this fresh process, set up as tests/conftest.py sets up the tests' (2 logical CPU devices, absl flags parsed, quiet
logs). tests/conftest.py's Background.elsewhere runs it: a job's work on the other core, while the tests go on."""

import importlib
import os
import pathlib
import pickle
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(TESTS), TESTS]

from absl import flags  # noqa: E402

from tfvae import distribute  # noqa: E402

distribute.split_cpu(2)
flags.FLAGS.mark_as_parsed()

if __name__ == "__main__":
    module, function, work, out = sys.argv[1:]
    result = getattr(importlib.import_module(module), function)(pathlib.Path(work))
    with open(out + ".part", "wb") as f:
        pickle.dump(result, f)
    os.replace(out + ".part", out)
