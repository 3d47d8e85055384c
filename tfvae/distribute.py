"""tf.distribute strategies behind one `--strategy` name.

- `default`: one device (the first GPU if there is one, else the CPU).
- `mirrored`: synchronous data parallelism over all local GPUs, or over the logical CPU devices made by
  `split_cpu` (how the tests run 2 replicas on one CPU).
- `multi_worker`: MultiWorkerMirroredStrategy over the machines listed in the TF_CONFIG environment variable.
- `tpu`: TPUStrategy on the TPU named by `tpu_address` (empty: the local or Cloud TPU from the environment).

Build the model, its optimizer and `compile` inside `strategy.scope()`. Gradients are summed over replicas, so a
train_step divides its mean loss by `num_replicas_in_sync` (tfvae/models/vae.py).
"""

import json
import os

import keras
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


class StrategyError(ValueError):
    """A strategy that cannot be built here; the message names the flag."""


def split_cpu(num_devices):
    """Splits the physical CPU into `num_devices` logical devices; call before TensorFlow initializes its devices."""
    if num_devices <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)
    except RuntimeError:
        if len(tf.config.list_logical_devices("CPU")) != num_devices:
            raise StrategyError(f"--cpu_devices={num_devices}: TensorFlow was initialized before the CPU could be "
                                "split; set it at program start") from None


def make_strategy(name, tpu_address="", num_devices=None, gpus=None):
    """The tf.distribute.Strategy called `name` (one of STRATEGIES); `mirrored` over every visible GPU (or, without
    GPUs, every logical CPU device), over the first num_devices of them if given (benchmarks/scaling.py), or over
    the GPUs whose indices are listed in `gpus` (the --gpus flag)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        visible = [d.name for d in tf.config.list_logical_devices("GPU")]
        if gpus:
            indices = [int(i) for i in gpus]
            if not visible or max(indices) >= len(visible) or min(indices) < 0:
                raise StrategyError(f"--gpus={','.join(map(str, indices))}: this machine has {len(visible)} visible "
                                    "GPU(s)")
            visible = [visible[i] for i in indices]
        gpus = visible[:num_devices]
        if gpus:
            return tf.distribute.MirroredStrategy(gpus)
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")][:num_devices]
        # NCCL all-reduce needs GPUs; CPU replicas reduce on one device.
        return tf.distribute.MirroredStrategy(cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise StrategyError("--strategy=multi_worker needs the TF_CONFIG environment variable (see BUILD.md)")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except ValueError:
            raise StrategyError("--strategy=multi_worker: TF_CONFIG is not valid JSON") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as e:
            raise StrategyError(f"--strategy=tpu: no TPU found at --tpu={tpu_address!r} ({e})") from None
        return tf.distribute.TPUStrategy(resolver)
    raise StrategyError(f"--strategy={name!r}: must be one of {STRATEGIES}")


def jit_possible(strategy):
    """Whether a training step under `strategy` can be XLA-compiled: XLA cannot reach variables mirrored over
    several logical CPU devices (TF's "variable on a different device" limitation), so CPU replicas run without it."""
    return strategy.num_replicas_in_sync == 1 or bool(tf.config.list_logical_devices("GPU"))


def use_jit(mode, strategy, precision="float32", convolutional=False):
    """Whether to XLA-compile the training step: mode "off" (or False) never; "on" wherever XLA can run
    (jit_possible); "auto" (or True) where it also pays:
    - on GPUs and TPUs: always (XLA fuses the element-wise work around the convolutions and matrix products);
    - on a CPU, a model without convolutions (convolutional False) in float32: yes (it fuses the many small ops of
      the MLPs and flows);
    - on a CPU, a convolutional model: no. XLA's CPU backend compiles convolutions to its own loops instead of
      oneDNN's kernels, which are faster in float32 too (benchmarks/precision.py, 2 cores: the default conv VAE 1,282
      images/s without XLA against 1,102 with it, the VQ-VAE, colorizer and convolutional denoiser 1.2-1.4x);
    - on a CPU in mixed precision: no. XLA's loops do not use AMX / AVX-512 BF16 as oneDNN's kernels do (the conv
      VAE in mixed bfloat16: 1,031 images/s with XLA against 2,201 without).
    """
    mode = {True: "auto", False: "off"}.get(mode, mode)
    if mode == "off" or not jit_possible(strategy):
        return False
    if mode == "on":
        return True
    accelerated = bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))
    return accelerated or (precision == "float32" and not convolutional)


CONVOLUTIONS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Conv1DTranspose,
                keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose, keras.layers.DepthwiseConv2D,
                keras.layers.SeparableConv2D)


def has_convolutions(model):
    """Whether model (a Keras layer) holds a convolution layer (CONVOLUTIONS) at any depth (use_jit's
    `convolutional`)."""
    return any(isinstance(layer, CONVOLUTIONS) for layer in model._flatten_layers(include_self=True))  # noqa: SLF001


def worker_name(strategy):
    """None for the chief (or a single-machine strategy), else "<task_type>-<task_id>" of this worker.

    The chief is task `chief`, or worker 0 when the cluster has no `chief` task (TF_CONFIG convention).
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if not task_type:
        return None
    task_id = resolver.task_id or 0
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    if task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief):
        return None
    return f"{task_type}-{task_id}"
