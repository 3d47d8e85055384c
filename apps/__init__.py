"""absl-flag programs: `python -m apps.train`, `python -m apps.evaluate`. Each imports tfvae.quiet first, which keeps
TensorFlow's C++ start-up lines out of their output."""
