"""`python -m export`: the command line of SavedModel export (export/__main__.py). The writer itself is the
library's (tfvae/serving.py), so apps and export share it and neither imports the other."""
