"""A quiet start-up for the programs: TensorFlow's C++ start-up lines and Keras's `shuffle=True` warning, silenced
before they print. Importing this module calls `quiet_startup()`; every app and `python -m export` import it first,
before anything imports TensorFlow. The library itself (`import tfvae`) changes nothing for its users.

What each measure removes (TensorFlow 2.21 on a machine without a GPU; each of the first three lines is printed
twice, once by each of TensorFlow's two shared libraries):

1. `import tensorflow` with file descriptor 2 sent to a temporary file, whose lines are written back to stderr
   afterwards except these (STARTUP_LINES), printed while the libraries load, before absl::InitializeLog(), where no
   environment variable reaches them:
       WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
       I... port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results ...
       I... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
   (TF_ENABLE_ONEDNN_OPTS=0 would also remove the oneDNN line, by turning oneDNN off: other numbers, so not that.)
2. TF_CPP_MIN_LOG_LEVEL=2 where the environment does not set it: TensorFlow's INFO and WARNING lines from then on,
   the first of them
       I... cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions ...
       To enable the following instructions: AVX2 AVX512F ... in other operations, rebuild TensorFlow ...
   ERROR lines still print, with one exception (measure 4).
   The lines of measure 1 are INFO lines and absl's banner for them, which the level means to hide but cannot
   reach: with TF_CPP_MIN_LOG_LEVEL=0 (all logs asked for) measure 1 is skipped.
4. The GPUs are listed inside the same filter, right after the import, which is when CUDA is first initialized:
       E... cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR
   is dropped when no GPU was found (a CPU machine with TensorFlow's CUDA libraries but no driver or device: the
   line says only that). Where a GPU is found it never prints; any other line of the listing is kept. Listing the
   physical devices does not initialize the logical ones, so tfvae.distribute.split_cpu still works afterwards.
5. A warnings filter for Keras's "`shuffle=True` was passed, but will be ignored since the data `x` was provided
   as a tf.data.Dataset" (Model.fit on a dataset with the default shuffle=True; the library's own fits pass
   shuffle=False, the filter covers the rest).
"""

import contextlib
import os
import sys
import tempfile
import warnings

STARTUP_LINES = (  # substrings of the lines measure 1 removes
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "] oneDNN custom operations are on.",
    "cudart_stub.cc:",
    "cpu_feature_guard.cc:",  # with TF_CPP_MIN_LOG_LEVEL below 2 it comes this early, with the next line
    "To enable the following instructions:",
)
NO_GPU_LINES = ("failed call to cuInit",)  # measure 4: dropped only when no GPU is found
SHUFFLE_WARNING = r"`shuffle=True` was passed, but will be ignored"


def is_startup_line(line, gpus_found=True):
    """Whether a line of stderr is one of TensorFlow's start-up lines (STARTUP_LINES; with no GPU found, also
    NO_GPU_LINES)."""
    return any(part in line for part in STARTUP_LINES + (() if gpus_found else NO_GPU_LINES))


def quiet_startup():
    """The three measures of the module docstring; call it before TensorFlow is first imported (afterwards its
    start-up lines are out, and only the log level of later lines and the warnings filter apply). Idempotent."""
    warnings.filterwarnings("ignore", message=SHUFFLE_WARNING, category=UserWarning)
    level = os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if level == "0" or "tensorflow" in sys.modules:
        return
    found = {}
    with filtered_stderr(found):
        import tensorflow  # pylint: disable=g-import-not-at-top

        found["gpus"] = bool(tensorflow.config.list_physical_devices("GPU"))


@contextlib.contextmanager
def filtered_stderr(found=None):
    """A context in which file descriptor 2 (C++ and Python writes alike) goes to a temporary file; on exit it is
    restored and the file's lines, less the start-up lines, are written to stderr (other messages still show).
    found: a dict whose "gpus" entry, set inside the context, says whether a GPU was found (default: yes)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as file:
        os.dup2(file.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            file.seek(0)
            kept = [line for line in file.read().decode(errors="replace").splitlines(keepends=True)
                    if not is_startup_line(line, (found or {}).get("gpus", True))]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


quiet_startup()
