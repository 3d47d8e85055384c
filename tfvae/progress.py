"""Progress of long library calls: the `progress` callbacks and a small printer for them.

Long loops of the library (importance-sampled log-likelihoods and `evaluate` in tfvae/evaluation.py, EM fitting in
tfvae/restoration/gmm.py, EPLL denoising in tfvae/restoration/epll.py and denoise.py) take an optional
`progress(done, total)`, called from Python between their chunks, batches or steps, never inside a tf.function graph;
`total` is None where it is unknown. None (the default) prints nothing. The callbacks only report: the numbers are
those of a call without one.

`Progress(label)` is such a callback for apps: it prints `label: 3/10 (12 s)` lines to stderr, at most one every
`every` seconds (the first after `every` seconds, so quick work prints only its last line), and always the last one
(done == total).
"""

import sys
import time

import tensorflow as tf


def require_eager(progress, what):
    """Raise ValueError if a progress callback is given to `what` inside a tf.function (it would run once, when
    traced, instead of between the chunks)."""
    if progress is not None and not tf.executing_eagerly():
        raise ValueError(f"{what}: a progress callback runs in Python between chunks: call it eagerly, not inside "
                         "a tf.function, or pass progress=None")


class Progress:
    """A progress(done, total) callback printing `label: done/total (elapsed s)` to `stream` (default stderr), at
    most one line every `every` seconds and always the last one; `total` given here is used where the caller passes
    None. `clock`: seconds as a float (time.monotonic; tests pass their own)."""

    def __init__(self, label, total=None, every=5.0, stream=None, clock=time.monotonic):
        self.label, self.total, self.every = label, total, every
        self.stream, self.clock = stream, clock
        self.start = self.last = clock()  # last: when the last line was printed (or the start)

    def __call__(self, done, total=None):
        total = self.total if total is None else total
        now = self.clock()
        finished = total is not None and done >= total
        if not finished and now - self.last < self.every:
            return
        self.last = now
        count = f"{done}/{total}" if total is not None else f"{done}"
        print(f"{self.label}: {count} ({now - self.start:.0f} s)", file=self.stream or sys.stderr, flush=True)
