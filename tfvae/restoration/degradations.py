"""Linear degradations y = A x + n, n ~ N(0, sigma^2 I), for the restoration loop (tfvae/restoration/restore.py).

Images are float32 [H, W, C] on the [0, 1] scale (sizes may be known only when the graph runs). Each degradation
holds A and sigma and provides:

    forward(x)        A x                                                   [H, W, C] -> the observation's shape
    adjoint(y)        A^T y                                                 the observation's shape -> [H, W, C]
    x_step(y, z, a)   argmin_x ||A x - y||^2 + a ||x - z||^2
                      = (A^T A + a I)^-1 (A^T y + a z), for a > 0          the loop's data step
    initial(y)        the loop's starting estimate                         [H, W, C] of the restored size
    margin            observation pixels of reflection padding the loop adds around y (0: none; below)

The kinds:

- `Noise(sigma)`: A = I (denoising); x = (y + a z) / (1 + a) per pixel.
- `Inpaint(mask, sigma=0)`: A = diag(m), m the 0/1 mask of observed pixels ([H, W] or [H, W, C]), A^T = A;
  x = (m y + a z) / (m + a) per pixel: y where observed (as a -> 0), z where not. The start fills every missing
  pixel by normalized convolution, the Gaussian-weighted mean of the observed pixels around it (blur(m y) / blur(m),
  standard deviation FILL_SIGMA pixels), or the mean of all observed pixels where none is near.
- `Blur(kernel, sigma)`: A x = k * x, circular convolution with the kernel [kh, kw] (sum 1) centred on its element
  ((kh - 1) / 2, (kw - 1) / 2) (even sides: the element just before the middle), per channel; A^T is correlation with
  k, the convolution with the kernel flipped. With K = F(k) the kernel's transfer function on the image's grid (the
  kernel zero-padded to [H, W] and rolled so its centre is at (0, 0)) and F the 2-D DFT,

      x = F^-1[(conj(K) F(y) + a F(z)) / (|K|^2 + a)].

- `Downsample(factor, kernel=None, sigma=0)`: A x = S(k * x), the blur followed by keeping every factor-th pixel
  from (0, 0) (S; S^T puts the values back with zeros between). kernel None: `bicubic_kernel(factor)`, which makes
  A MATLAB's imresize(x, 1 / factor) (bicubic with anti-aliasing) away from the borders. The x-step in closed form
  (Zhao et al. 2016, "Fast single image super-resolution using a new analytical solution for l2-l2 problems"): with
  r = A^T y + a z and R = F(r), by the Woodbury identity and because S K K^T S^T is diagonal in the low-resolution
  Fourier domain (the mean of |K|^2 over the factor^2 spectral aliases, written mean_a below; (S u)^ = mean_a U),

      x = F^-1[(R - conj(K) rep((mean_a K R) / (mean_a |K|^2 + a))) / a],

  rep repeating a low-resolution spectrum factor x factor times. The start is the bicubic upscale of y.

A circular A is exact for images that wrap around, which photographs do not. For `Blur` and `Downsample` the loop
therefore pads y by reflection by `margin` observation pixels (the kernel's size), restores the padded image and
crops the margin again: the reflected margin continues the image smoothly, so the wrap-around lands in the margin,
not on the image (tfvae/restoration/restore.py).
"""

import math

import numpy as np
import tensorflow as tf

FILL_SIGMA = 2.0  # Inpaint's start: the standard deviation (pixels) of the normalized convolution
_FILL_RADIUS = 6  # its kernel's half side, 3 FILL_SIGMA


def _sigma(sigma, allow_zero):
    """sigma checked: a number >= 0 (> 0 unless allow_zero) or a scalar tensor (checked when run)."""
    if tf.is_tensor(sigma):
        if sigma.shape.rank != 0:
            raise ValueError(f"sigma must be a scalar, got shape {sigma.shape}")
        sigma = tf.cast(sigma, tf.float32)
        check = (tf.debugging.assert_non_negative if allow_zero else tf.debugging.assert_positive)(
            sigma, message="sigma must be " + ("non-negative" if allow_zero else "positive"))
        with tf.control_dependencies([check]):
            return tf.identity(sigma)
    sigma = float(sigma)
    if not (sigma >= 0 if allow_zero else sigma > 0) or math.isinf(sigma):
        raise ValueError(f"sigma must be a {'non-negative' if allow_zero else 'positive'} number, got {sigma!r}")
    return sigma


def check_kernel(kernel):
    """A blur kernel as float32 [kh, kw]: 2-D, finite, sum 1 (within 1e-3); raises ValueError if not. A tensor
    kernel (a SavedModel's input) must be 2-D; the rest is checked when the graph runs."""
    if tf.is_tensor(kernel):
        if kernel.shape.rank != 2:
            raise ValueError(f"the kernel must be a 2-D array, got shape {kernel.shape}")
        kernel = tf.cast(kernel, tf.float32)
        checks = [tf.debugging.assert_equal(tf.reduce_all(tf.math.is_finite(kernel)), True,
                                            message="the kernel has non-finite values"),
                  tf.debugging.assert_near(tf.reduce_sum(kernel), 1.0, atol=1e-3, message="the kernel must sum to 1"),
                  tf.debugging.assert_positive(tf.size(kernel), message="the kernel is empty")]
        with tf.control_dependencies(checks):
            return kernel / tf.reduce_sum(kernel)
    kernel = np.asarray(kernel, np.float64)
    if kernel.ndim != 2 or min(kernel.shape) < 1:
        raise ValueError(f"the kernel must be a 2-D array, got shape {kernel.shape}")
    if not np.all(np.isfinite(kernel)):
        raise ValueError("the kernel has non-finite values")
    if abs(kernel.sum() - 1) > 1e-3:
        raise ValueError(f"the kernel must sum to 1, it sums to {kernel.sum():.6g}")
    return (kernel / kernel.sum()).astype(np.float32)


def gaussian_kernel(size, std):
    """A size x size Gaussian kernel of standard deviation std (pixels), normalized to sum 1: float32 [size, size]."""
    t = np.arange(size) - (size - 1) / 2
    g = np.exp(-0.5 * (t / std) ** 2)
    return check_kernel(np.outer(g, g) / g.sum() ** 2)


def _cubic(t, a=-0.5):
    """Keys' cubic convolution kernel (a = -0.5: MATLAB's and PIL's bicubic)."""
    t = np.abs(t)
    return np.where(t <= 1, (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1,
                    np.where(t < 2, a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a, 0.0))


def bicubic_kernel(factor):
    """The kernel k with S(k * x) = MATLAB's imresize(x, 1 / factor, 'bicubic') away from the borders: float32 odd
    square [2R + 1, 2R + 1].

    imresize's output pixel i sits at input position u = (i + 1/2) factor - 1/2 = i factor + (factor - 1) / 2 and
    weighs input j by cubic((j - u) / factor) / factor (the cubic stretched to anti-alias), normalized. As a
    convolution sampled at i factor, input i factor + e gets weight w(e) = cubic((e - (factor - 1) / 2) / factor),
    the kernel's element at offset -e from its centre (convolution flips it), zero outside |e - (factor - 1) / 2| < 2
    factor."""
    if factor not in (2, 3, 4):
        raise ValueError(f"factor must be 2, 3 or 4, got {factor!r}")
    shift = (factor - 1) / 2
    radius = int(math.ceil(2 * factor + shift)) - 1  # the largest |e| with |e - shift| < 2 factor
    e = np.arange(-radius, radius + 1)
    w = _cubic((e - shift) / factor)
    k = w[::-1] / w.sum()  # offset -e at index radius + e: the flip of w
    return check_kernel(np.outer(k, k))


def _channels_first(x):
    return tf.transpose(x, [2, 0, 1])  # [H, W, C] -> [C, H, W], the layout tf.signal.fft2d transforms


def _channels_last(x):
    return tf.transpose(x, [1, 2, 0])


def _fft(x):
    """[H, W, C] real -> [C, H, W] complex64, the 2-D DFT of each channel."""
    return tf.signal.fft2d(tf.cast(_channels_first(x), tf.complex64))


def _ifft(spectrum):
    """[C, H, W] complex -> [H, W, C] float32, the real part of the inverse DFT."""
    return _channels_last(tf.math.real(tf.signal.ifft2d(spectrum)))


def transfer_function(kernel, height, width):
    """K = F(k) on an [height, width] grid: the kernel zero-padded and rolled so its centre element is at (0, 0)
    (MATLAB's psf2otf): complex64 [height, width]. The kernel must fit: kh <= height, kw <= width."""
    kh, kw = (kernel.shape if isinstance(kernel, np.ndarray) else tf.unstack(tf.shape(kernel)))
    padded = tf.pad(tf.convert_to_tensor(kernel, tf.float32), [[0, height - kh], [0, width - kw]])
    rolled = tf.roll(padded, [-((kh - 1) // 2), -((kw - 1) // 2)], [0, 1])
    return tf.signal.fft2d(tf.cast(rolled, tf.complex64))


class Degradation:
    """The module docstring's interface; subclasses set sigma (>= 0, [0, 1] scale) and margin."""

    margin = 0
    factor = 1  # restored pixels per observed pixel along each side

    def forward(self, x):
        raise NotImplementedError

    def adjoint(self, y):
        raise NotImplementedError

    def x_step(self, y, z, a):
        raise NotImplementedError

    def project(self, y, x):
        """The x closest to x with A x = y (the alpha -> 0 limit of x_step, for a noise-free y); defined by Inpaint."""
        raise NotImplementedError(f"{type(self).__name__} has no projection onto A x = y (Schedule.project)")

    def initial(self, y):
        return y

    def check(self, y):
        """y [H, W, C] checked against the degradation (raises ValueError on static mismatches; run-time checks
        otherwise); returns y."""
        return y

    def degrade(self, x, seed=0):
        """A simulated observation of a clean image x [H, W, C] on [0, 1]: A x with the borders continued by
        reflection (not wrapped; as a camera would see them), plus N(0, sigma^2) noise drawn from seed, float32 and
        unclipped. A Downsample's factor must divide H and W."""
        x = tf.convert_to_tensor(x, tf.float32)
        pad = self.factor * self.margin
        if tf.is_tensor(pad) or pad:
            x = tf.pad(x, [[pad, pad], [pad, pad], [0, 0]], mode="SYMMETRIC")
        y = self.forward(x)
        if tf.is_tensor(pad) or pad:
            size = tf.shape(y)
            y = y[self.margin:size[0] - self.margin, self.margin:size[1] - self.margin]
        noise = tf.random.stateless_normal(tf.shape(y), [seed, 0])
        return y + tf.cast(self.sigma, tf.float32) * noise * (self.mask if hasattr(self, "mask") else 1.0)

    def static(self):
        """What a compiled restoration depends on besides sigma and the mask: hashable."""
        kernel = getattr(self, "kernel", None)
        if tf.is_tensor(kernel):
            raise ValueError("a degradation with a tensor kernel is restored inside a graph only")
        return (type(self), self.factor, None if kernel is None else (kernel.shape, kernel.tobytes()))

    def with_values(self, sigma, mask=None):
        """A copy with sigma (and an Inpaint's mask [H, W, 1 or C], 0/1) replaced, e.g. by a graph's tensors."""
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__, sigma=sigma)
        if mask is not None:
            copy.mask = mask
        return copy


class Noise(Degradation):
    """A = I: denoising."""

    def __init__(self, sigma):
        self.sigma = _sigma(sigma, allow_zero=False)

    def forward(self, x):
        return x

    adjoint = forward

    def x_step(self, y, z, a):
        return (y + a * z) / (1.0 + a)


class Inpaint(Degradation):
    """A = diag(m): the observed pixels, m [H, W] or [H, W, C] non-zero where a pixel was observed."""

    def __init__(self, mask, sigma=0.0):
        mask = tf.convert_to_tensor(mask)
        if mask.shape.rank not in (2, 3):
            raise ValueError(f"the mask must be [H, W] or [H, W, C], got shape {mask.shape}")
        mask = tf.cast(tf.not_equal(mask, tf.zeros([], mask.dtype)), tf.float32)
        self.mask = mask[..., None] if mask.shape.rank == 2 else mask  # [H, W, 1 or C], 0/1
        self.sigma = _sigma(sigma, allow_zero=True)

    def check(self, y):
        if y.shape[:2].is_fully_defined() and self.mask.shape[:2].is_fully_defined():
            if y.shape[:2] != self.mask.shape[:2]:
                raise ValueError(f"the mask is {self.mask.shape[0]}x{self.mask.shape[1]}, the image "
                                 f"{y.shape[0]}x{y.shape[1]}")
            if self.mask.shape[2] not in (1, y.shape[2]):
                raise ValueError(f"the mask has {self.mask.shape[2]} channels, the image {y.shape[2]}")
            return y
        check = tf.debugging.assert_equal(tf.shape(self.mask)[:2], tf.shape(y)[:2],
                                          message="the mask and the image differ in size")
        with tf.control_dependencies([check]):
            return tf.identity(y)

    def forward(self, x):
        return self.mask * x

    adjoint = forward

    def x_step(self, y, z, a):
        return (self.mask * y + a * z) / (self.mask + a)

    def project(self, y, x):
        """y where a pixel was observed, x where it is missing."""
        return self.mask * y + (1 - self.mask) * x

    def initial(self, y):
        """Missing pixels filled by normalized convolution (module docstring), observed ones kept."""
        m = tf.broadcast_to(self.mask, tf.shape(y))
        kernel = gaussian_kernel(2 * _FILL_RADIUS + 1, FILL_SIGMA)
        channels = y.shape[-1]
        filt = tf.constant(np.tile(kernel[:, :, None, None], [1, 1, channels, 1]))

        def blur(u):
            return tf.nn.depthwise_conv2d(u[None], filt, [1, 1, 1, 1], "SAME")[0]

        weight = blur(m)
        mean = tf.reduce_sum(m * y, [0, 1]) / tf.maximum(tf.reduce_sum(m, [0, 1]), 1.0)  # [C]
        fill = tf.where(weight > 1e-3, blur(m * y) / tf.maximum(weight, 1e-3), mean)
        return m * y + (1 - m) * fill


class Blur(Degradation):
    """A x = k * x, circular convolution with a known kernel (module docstring)."""

    def __init__(self, kernel, sigma):
        self.kernel = check_kernel(kernel)
        self.sigma = _sigma(sigma, allow_zero=True)
        self.margin = int(max(self.kernel.shape)) if isinstance(self.kernel, np.ndarray) else \
            tf.reduce_max(tf.shape(self.kernel))  # observation pixels of padding (module docstring)

    def _transfer(self, x):
        shape = tf.shape(x)
        return transfer_function(self.kernel, shape[0], shape[1])  # [H, W]

    def check(self, y):
        if tf.is_tensor(self.kernel):
            check = tf.debugging.assert_greater_equal(tf.shape(y)[:2], tf.shape(self.kernel),
                                                      message="the image is smaller than the kernel")
            with tf.control_dependencies([check]):
                return tf.identity(y)
        kh, kw = self.kernel.shape
        if y.shape[0] is not None and y.shape[1] is not None and (y.shape[0] < kh or y.shape[1] < kw):
            raise ValueError(f"the image ({y.shape[0]}x{y.shape[1]}) is smaller than the kernel ({kh}x{kw})")
        return y

    def forward(self, x):
        return _ifft(self._transfer(x) * _fft(x))

    def adjoint(self, y):
        return _ifft(tf.math.conj(self._transfer(y)) * _fft(y))

    def x_step(self, y, z, a):
        k = self._transfer(y)
        a = tf.cast(a, tf.complex64)
        return _ifft((tf.math.conj(k) * _fft(y) + a * _fft(z)) / (tf.cast(tf.abs(k) ** 2, tf.complex64) + a))


class Downsample(Degradation):
    """A x = S(k * x): blur by a known kernel (None: bicubic_kernel(factor)) and keep every factor-th pixel."""

    def __init__(self, factor, kernel=None, sigma=0.0):
        if not isinstance(factor, (int, np.integer)) or factor < 2:
            raise ValueError(f"factor must be an integer of at least 2, got {factor!r}")
        self.factor = int(factor)
        self.kernel = bicubic_kernel(self.factor) if kernel is None else check_kernel(kernel)
        self.sigma = _sigma(sigma, allow_zero=True)
        self.margin = int(math.ceil(max(self.kernel.shape) / self.factor))

    def _transfer(self, x):
        shape = tf.shape(x)
        return transfer_function(self.kernel, shape[0], shape[1])

    def check(self, y):
        kh, kw = self.kernel.shape
        if y.shape[0] is not None and y.shape[1] is not None and \
                (self.factor * y.shape[0] < kh or self.factor * y.shape[1] < kw):
            raise ValueError(f"the restored image ({self.factor * y.shape[0]}x{self.factor * y.shape[1]}) would be "
                             f"smaller than the kernel ({kh}x{kw})")
        return y

    def forward(self, x):
        return _ifft(self._transfer(x) * _fft(x))[::self.factor, ::self.factor]

    def degrade(self, x, seed=0):
        x = tf.convert_to_tensor(x, tf.float32)
        if x.shape[0] is not None and x.shape[1] is not None and (x.shape[0] % self.factor or
                                                                   x.shape[1] % self.factor):
            raise ValueError(f"the factor {self.factor} does not divide the image size {x.shape[0]}x{x.shape[1]}")
        return super().degrade(x, seed)

    def _upsample_zeros(self, y):
        """S^T y: [h, w, C] -> [f h, f w, C] with y at every factor-th pixel from (0, 0), zeros elsewhere."""
        f = self.factor
        shape = tf.shape(y)
        spread = tf.pad(y[:, None, :, None, :], [[0, 0], [0, f - 1], [0, 0], [0, f - 1], [0, 0]])
        return tf.reshape(spread, [shape[0] * f, shape[1] * f, shape[2]])

    def adjoint(self, y):
        u = self._upsample_zeros(y)
        return _ifft(tf.math.conj(self._transfer(u)) * _fft(u))

    def _alias_mean(self, spectrum):
        """mean_a: [C, f h, f w] -> [C, h, w], the mean over the factor^2 spectral aliases (blocks of h x w)."""
        f, shape = self.factor, tf.shape(spectrum)
        blocks = tf.reshape(spectrum, [shape[0], f, shape[1] // f, f, shape[2] // f])
        return tf.reduce_mean(blocks, axis=[1, 3])

    def x_step(self, y, z, a):
        k = self._transfer(z)  # [f h, f w]
        a = tf.cast(a, tf.complex64)
        spectrum = tf.math.conj(k) * _fft(self._upsample_zeros(y)) + a * _fft(z)  # R [C, f h, f w]
        power = self._alias_mean(tf.cast(tf.abs(k) ** 2, tf.complex64)[None])  # [1, h, w]
        low = self._alias_mean(k * spectrum) / (power + a)  # [C, h, w]
        return _ifft((spectrum - tf.math.conj(k) * tf.tile(low, [1, self.factor, self.factor])) / a)

    def initial(self, y):
        shape = tf.shape(y)
        return tf.image.resize(y, [self.factor * shape[0], self.factor * shape[1]], method="bicubic")
