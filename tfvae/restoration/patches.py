"""Overlapping image patches: extraction P, its adjoint P^T, averaging back, and the per-patch mean (DC).

For an image x [H, W] (or [H, W, C]) and a p x p patch grid with stride s, extraction is the linear map

    P x = [P_1 x; ...; P_N x]        patches [N, D], D = p * p * C, N = (#patch rows) * (#patch columns)

where P_i selects the pixels of patch i, in tf.image.extract_patches order (row, column, channel). Patch rows start
at 0, s, 2s, ... and always also at H - p (likewise for columns), so every pixel is covered even when s does not
divide H - p. The adjoint P^T z = sum_i P_i^T z_i adds each patch back at its place; P^T 1 = c is the cover count
(c = p * p / s^2 away from the borders, fewer at them), and averaging is Z = P^T z / c, so averaging P x gives x back.

Image shapes may be static (a tuple or TensorShape) or a 1-D int tensor (tf.shape(x) of an image whose size is known
only when the graph runs, as in tf.data pipelines and SavedModel signatures); the rank must be known.

The priors work on patches [N, D] in row batches of a fixed size b, which bounds their memory for any N:
`pad_to_batches` zero-pads N up to a multiple of b and reshapes, and `map_batches` maps a function over the batches
and drops the padding rows again.
"""

import tensorflow as tf


def check_image(image, patch_size, stride=1):
    """Raise ValueError unless image is a float [H, W] or [H, W, C] tensor with H, W >= patch_size >= 1, stride >= 1.

    Returns the image; where its size is known only when the graph runs, gated on a run-time check of the size.
    """
    if not image.dtype.is_floating:
        raise ValueError(f"image must be a float tensor (values in its value range), got dtype {image.dtype.name}; "
                         "convert integer pixels first, e.g. tf.image.convert_image_dtype")
    check_shape(image.shape, patch_size, stride)
    if not image.shape[:2].is_fully_defined():  # a size known only when the graph runs: checked then
        check = tf.debugging.assert_greater_equal(
            tf.shape(image)[:2], patch_size, message=f"the image is smaller than the {patch_size}x{patch_size} patch")
        with tf.control_dependencies([check]):
            return tf.identity(image)
    return image


def check_shape(image_shape, patch_size, stride=1):
    """Raise ValueError unless image_shape is [H, W] or [H, W, C] with H, W >= patch_size >= 1, and stride >= 1."""
    if not isinstance(patch_size, int) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive integer, got {patch_size!r}")
    if not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride!r}")
    image_shape = tf.TensorShape(image_shape)
    if image_shape.rank not in (2, 3):
        raise ValueError(f"image must be [H, W] or [H, W, C], got shape {image_shape}")
    height, width = image_shape[0], image_shape[1]
    if (height is not None and height < patch_size) or (width is not None and width < patch_size):
        raise ValueError(f"image is {height}x{width}, smaller than the {patch_size}x{patch_size} patch")


def _starts(size, patch_size, stride):
    """Patch start offsets along one axis [n]: 0, s, 2s, ... <= size - p, and size - p itself."""
    last = size - patch_size
    return tf.unique(tf.concat([tf.range(0, last + 1, stride), [last]], 0)).y  # unique keeps the sorted order


def extract(image, patch_size, stride=1):
    """All p x p patches of image [H, W] or [H, W, C] with stride s -> patches [N, p * p * C] (P x)."""
    image = check_image(tf.convert_to_tensor(image), patch_size, stride)
    return _extract(image, patch_size, stride)


def _extract(image, patch_size, stride):
    """extract without the checks, for any numeric dtype (the pixel index below is int32)."""
    grid = image[None] if image.shape.rank == 3 else image[None, :, :, None]  # [1, H, W, C]
    patches = tf.image.extract_patches(grid, [1, patch_size, patch_size, 1], [1, 1, 1, 1], [1, 1, 1, 1],
                                       "VALID")[0]  # [H - p + 1, W - p + 1, D]
    if stride > 1:  # keep the rows and columns of the strided grid (the last one included)
        shape = tf.shape(image)
        patches = tf.gather(patches, _starts(shape[0], patch_size, stride), axis=0)
        patches = tf.gather(patches, _starts(shape[1], patch_size, stride), axis=1)  # [rows, cols, D]
    return tf.reshape(patches, [-1, patches.shape[-1]])


def _shape_tensor(image_shape, patch_size, stride):
    """(int32 shape tensor [rank], static TensorShape) of a static shape or a 1-D int tensor, checked."""
    if tf.is_tensor(image_shape):
        static = tf.TensorShape([None] * image_shape.shape[0])
        if tf.get_static_value(image_shape) is not None:
            static = tf.TensorShape(tf.get_static_value(image_shape))
        check_shape(static, patch_size, stride)
        return tf.cast(image_shape, tf.int32), static
    static = tf.TensorShape(image_shape)
    check_shape(static, patch_size, stride)
    if not static.is_fully_defined():
        raise ValueError(f"a static image shape must be fully known, got {static}; pass tf.shape(image) instead")
    return tf.constant(static.as_list(), tf.int32), static


def _pixel_index(shape, patch_size, stride):
    """The flat pixel index of every patch entry [N, D] for an image of shape [rank]: P x = gather(flat x, index)."""
    return _extract(tf.reshape(tf.range(tf.reduce_prod(shape)), shape), patch_size, stride)


def adjoint(patches, image_shape, patch_size, stride=1):
    """P^T z: patches [N, D] added back at their places -> image [H, W] or [H, W, C] (image_shape)."""
    shape, static = _shape_tensor(image_shape, patch_size, stride)
    index = _pixel_index(shape, patch_size, stride)  # [N, D]
    sums = tf.math.unsorted_segment_sum(tf.reshape(patches, [-1]), tf.reshape(index, [-1]), tf.reduce_prod(shape))
    return tf.ensure_shape(tf.reshape(sums, shape), static)


def cover_count(image_shape, patch_size, stride=1, dtype=tf.float32):
    """c = P^T 1: how many patches cover each pixel, [H, W] or [H, W, C]; p * p / s^2 away from the borders."""
    shape, static = _shape_tensor(image_shape, patch_size, stride)
    patches = _extract(tf.ensure_shape(tf.zeros(shape, dtype), static), patch_size, stride)
    return adjoint(tf.ones_like(patches), image_shape, patch_size, stride)


def average(patches, image_shape, patch_size, stride=1):
    """Z = P^T z / c: overlapping patches [N, D] averaged back into an image [H, W] or [H, W, C].

    Every pixel is covered (c >= 1), so average(extract(x)) == x exactly up to float rounding of the mean.
    """
    count = cover_count(image_shape, patch_size, stride, patches.dtype)
    return adjoint(patches, image_shape, patch_size, stride) / count


def remove_dc(patches):
    """Patches [N, D] -> (centered [N, D], dc [N, 1]): the per-patch mean removed, as the patch priors expect."""
    dc = tf.reduce_mean(patches, axis=-1, keepdims=True)
    return patches - dc, dc


def add_dc(centered, dc):
    """The inverse of remove_dc: centered [N, D] + dc [N, 1] -> patches [N, D]."""
    return centered + dc


def pad_to_batches(patches, batch_size):
    """patches [N, D] -> (zero-padded batches [ceil(N / b), b, D], mask [ceil(N / b), b]: 1 for real rows, 0 for
    padding), b = batch_size (an int or an int32 scalar tensor)."""
    n, dim = tf.shape(patches)[0], tf.shape(patches)[1]
    padded = n + tf.math.floormod(-n, batch_size)
    batches = tf.reshape(tf.pad(patches, [[0, padded - n], [0, 0]]), [-1, batch_size, dim])
    return batches, tf.reshape(tf.sequence_mask(n, padded, patches.dtype), [-1, batch_size])


def map_batches(fn, patches, batch_size):
    """fn over row batches of patches [N, D] -> [N, ...]: fn maps [batch_size, D] -> [batch_size, ...] of patches'
    dtype, rows independently; the last batch is zero-padded and its padding rows are dropped from the result."""
    batches, _ = pad_to_batches(patches, batch_size)
    out = tf.map_fn(fn, batches, fn_output_signature=patches.dtype)
    return tf.reshape(out, tf.concat([[-1], tf.shape(out)[2:]], 0))[:tf.shape(patches)[0]]
