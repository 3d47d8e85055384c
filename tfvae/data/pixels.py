"""The scales of the pixel representations (tfvae/data/pipeline.py): what the networks see and what pictures show.

Images x in a representation `pixels` lie in [0, 1] (the binary ones in {0, 1}), except `8bit`, where x = k in
{0, ..., 255} as float, the support of the discretized logistic likelihood. Two maps undo that one exception:

- `network_input(x, pixels)`: what encoders take: 8-bit data rescaled to [-1, 1] by x / 127.5 - 1, anything else
  as it is (already in [0, 1]).
- `to_display(x, pixels)`: [0, 1] for pictures, PNGs and classifiers: x / display_scale(pixels), with
  display_scale 255 for `8bit` and 1 otherwise.

Both take NumPy arrays or tensors of any shape and return the same kind.
"""

EIGHT_BIT = "8bit"
NETWORK_HALF_RANGE = 127.5  # 8-bit k / 127.5 - 1 lies in [-1, 1]
EIGHT_BIT_SCALE = 255.0


def network_input(x, pixels):
    """x [...] in representation `pixels` -> the encoders' input [...]: in [-1, 1] for 8bit, else x itself."""
    return x / NETWORK_HALF_RANGE - 1.0 if pixels == EIGHT_BIT else x


def display_scale(pixels):
    """The largest pixel value of representation `pixels`: 255.0 for 8bit, 1.0 for the others (a Python float)."""
    return EIGHT_BIT_SCALE if pixels == EIGHT_BIT else 1.0


def to_display(x, pixels):
    """x [...] in representation `pixels` (e.g. samples, reconstructions) -> the same in [0, 1]."""
    return x / display_scale(pixels)
