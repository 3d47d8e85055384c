"""Training: one resumable fit for every stage (fit.py) and the checkpoints it writes (checkpoints.py).

Which model, data and pictures a family trains with is the family's (tfvae/families/); this package knows none.
"""

from tfvae.training.checkpoints import make_checkpoint, restore_weights, step_of
from tfvae.training.fit import Checkpointing, TrainingError, compiled, fit, steps_per_execution

__all__ = ["Checkpointing", "TrainingError", "compiled", "fit", "make_checkpoint", "restore_weights", "step_of",
           "steps_per_execution"]
