"""MADE: the masked autoencoder for distribution estimation (Germain et al. 2015), as Keras 3 layers.

Every unit carries a degree. Input j (0-based) has degree j + 1, output i has degree i + 1, hidden units take degrees
cyclically in [lo, D - 1]. A weight from a unit of degree a to a hidden unit of degree b is kept iff a <= b, and to an
output of degree c iff a < c, so output i is a function of x[:i] only:

    MADE(x)[..., i, :] = f_i(x[..., :i], h)

The masks are constants multiplied into the kernels in `call`, never weights. Degree-0 hidden units see no input;
they exist (lo = 0) only when there is a context h, which enters the first layer through an unmasked Dense, so that
output 0, which sees no input, still depends on h nonlinearly. Without a context lo = 1, as in the paper (or 0 when
D = 1, where no input may be seen and MADE is a constant).
"""

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="tfvae")
class MaskedDense(keras.layers.Layer):
    """y = act(x @ (W * M) + b): x [..., len(in_degrees)] -> y [..., len(out_degrees)].

    M[a, b] = in_degrees[a] < out_degrees[b] if `strict` (into outputs) else in_degrees[a] <= out_degrees[b].
    """

    def __init__(self, in_degrees, out_degrees, strict, activation=None, kernel_initializer="glorot_uniform",
                 **kwargs):
        super().__init__(**kwargs)
        self.in_degrees, self.out_degrees = tuple(in_degrees), tuple(out_degrees)
        self.strict, self.activation = strict, activation
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        a, b = np.asarray(self.in_degrees)[:, None], np.asarray(self.out_degrees)[None, :]
        self.mask = (a < b if strict else a <= b).astype("float32")  # [in, out], a constant
        self.act = keras.activations.get(activation)
        self.kernel = self.add_weight(shape=self.mask.shape, initializer=self.kernel_initializer, name="kernel")
        self.bias = self.add_weight(shape=(len(self.out_degrees),), initializer="zeros", name="bias")

    def call(self, x, extra=None):
        """x [..., in]; `extra` [..., out] (broadcastable) is added before the activation (the context's term)."""
        y = keras.ops.matmul(x, self.kernel * self.mask) + self.bias
        if extra is not None:
            y = y + extra
        return self.act(y)

    def get_config(self):
        return {**super().get_config(), "in_degrees": self.in_degrees, "out_degrees": self.out_degrees,
                "strict": self.strict, "activation": self.activation,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


def hidden_degrees(event_size, units, with_context):
    """Degrees of `units` hidden units: cyclic over [lo, D - 1], lo = 0 with a context (or D = 1), else 1."""
    lo = 0 if with_context or event_size == 1 else 1
    return [lo + k % (event_size - lo) for k in range(units)]


@keras.saving.register_keras_serializable(package="tfvae")
class MADE(keras.layers.Layer):
    """x [..., D] (and context h [..., C] if context_size > 0) -> [..., D, params], output i depending on x[..., :i].

    Hidden layers use `activation`; the output layer is linear and starts small (normal, stddev 0.01) so that flows
    built on it start near their identity-like initial map while every weight still gets a gradient on step one (a
    zero output kernel would leave the hidden layers' gradients exactly zero).
    """

    def __init__(self, event_size, hidden_units, params=2, context_size=0, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.event_size, self.hidden_units, self.params = event_size, tuple(hidden_units), params
        self.context_size, self.activation = context_size, activation
        degrees = [list(range(1, event_size + 1))]
        degrees += [hidden_degrees(event_size, u, context_size > 0) for u in self.hidden_units]
        out_degrees = np.repeat(np.arange(1, event_size + 1), params).tolist()  # unit i * P + p belongs to output i
        # Every weight is made now (not on a first call that may come inside MAF's tf.while_loop), in this layer's
        # name scope so that paths read made_0/masked_0/kernel.
        with keras.name_scope(self.name):
            self.hidden = [MaskedDense(d_in, d_out, strict=False, activation=activation, name=f"masked_{k}")
                           for k, (d_in, d_out) in enumerate(zip(degrees[:-1], degrees[1:]))]
            self.out = MaskedDense(degrees[-1], out_degrees, strict=True, name="masked_out",
                                   kernel_initializer=keras.initializers.RandomNormal(stddev=0.01))
            if context_size:
                # The context is not masked: every unit of the first layer (hidden, or the output if there is none)
                # sees all of it. No bias: the masked layer it feeds has one.
                first_units = self.hidden_units[0] if self.hidden_units else len(out_degrees)
                self.context_dense = keras.layers.Dense(first_units, use_bias=False, name="context")
                self.context_dense.build((None, context_size))

    def call(self, x, context=None):
        if (context is None) != (self.context_size == 0):
            raise ValueError(f"MADE(context_size={self.context_size}) called with context={context!r}")
        extra = None if context is None else self.context_dense(context)  # [..., first_units]
        h = x  # [..., D]
        for layer in self.hidden:
            h, extra = layer(h, extra), None  # [..., units_k]
        y = self.out(h, extra)  # [..., D * P]
        return keras.ops.reshape(y, (*keras.ops.shape(y)[:-1], self.event_size, self.params))  # [..., D, P]

    def get_config(self):
        return {**super().get_config(), "event_size": self.event_size, "hidden_units": self.hidden_units,
                "params": self.params, "context_size": self.context_size, "activation": self.activation}
