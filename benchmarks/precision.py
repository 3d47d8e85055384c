"""Benchmark: mixed precision on the CPU (issue 14): training throughput and test metrics in float32 and
mixed_bfloat16, whether the input pipeline keeps up, and where the step's time goes.

    nice python benchmarks/precision.py              # everything (about 16 minutes on 2 idle CPU cores)
    python benchmarks/precision.py --models=vae --vae_epochs=2 --num_samples=5 --sections=models,pipeline \
        --rounds=1 --output=/tmp/precision.json                                     # a quick check that it runs

Section `models`: each model trains for the same number of steps from the same seed in every --precisions, through
`tfvae.families.train` (the denoiser through `tfvae.training.fit` with `deep_prior.fit_denoiser`'s model, data and
schedule, in epochs of --denoiser_steps_per_epoch steps so the compiling one can be left out), with --jit_compile=auto
(tfvae/distribute.py: use_jit; on a CPU XLA only for the float32 denoiser MLP, the one model here without
convolutions); the vqvae, colorizer and both denoisers also train for --other_xla_epochs in float32 with use_jit's
other choice (XLA on for the convolutional ones, off for the MLP; throughput only). Throughput: training images
(patches for the denoiser) per epoch over the median epoch time from epoch 2 on (compilation excluded;
benchmarks/common.py), the mean beside it. Then on held-out data:
- `vae`, the default conv VAE of apps.train (dynamic binarization, batch 128): test NLL by --num_samples importance
  samples on all 2,000 test images (tfvae/evaluation.py);
- `vqvae`, `--model=vqvae --likelihood=gaussian --pixels=continuous` (batch 128): squared error per test image and the
  codes' bits under the uniform prior (49 log2 K) and their perplexity (tfvae/rate_distortion.py: vqvae_point);
- `colorize`, 64x64 crops, batch 16: PSNR, ab RMSE and AuC of the expected colouring of the 6 whole held-out images
  (tfvae/colorization/evaluation.py: method_metrics);
- `denoiser`, the DenoiserPrior MLP 512-512-512 on DC-removed 8x8 patches of train400 (batch 1024): the held-out
  denoising loss and the MSE of D(y, s) against the clean patch at s = 15, 25, 50 / 255, on patches of the images held
  out of training (every 10th, sorted by path);
- `conv_denoiser`, the shipped denoising prior's network (conv_prior.ConvDenoiser, its default U-Net) trained as
  apps.train_denoiser trains it (conv_prior.fit_conv_denoiser: 96x96 crops of train400's training split, batch 16,
  --conv_denoiser_steps with its warm-up and cosine schedule, timed in epochs of --conv_denoiser_steps_per_epoch):
  PSNR of its one-pass estimate on Set12 at sigma 15, 25, 50 (noise fixed by seed 0; only measured).

Section `pipeline` (the conv VAE, one case after the other): seconds per training step with the real pipeline
(`FAMILY.datasets`, as families.train builds it) and with one in-memory batch repeated
(`tf.data.Dataset.from_tensors(batch).repeat()`) in each precision at batch 128; the real pipeline at --large_batch;
with XLA (use_jit's other choice on a CPU) at batch 128 and (float32) --large_batch. Each case runs the model's
compiled multi-step train function (what model.fit calls: 31 steps a call at batch 128, 15 at 512) on one iterator:
--rounds timed calls after one untimed.

Section `profile` (the conv VAE, without XLA so every TF op is visible): TensorFlow's profiler over one call of the
train function at batch 128 and --large_batch, float32 and mixed_bfloat16: CPU time per step (self time summed over
threads, idle excluded) by op category (convolutions and matrix products, activations, casts, the rest) and by layer.
mixed_float16 is timed here too, for --float16_steps steps at batch 128 (its steps take tens of seconds on a CPU, so it
is not trained in section `models`).

--swish=tensorflow puts tf.nn.silu, whose gradient is computed in the compute dtype, in place of tfvae's swish
(tfvae/nets/activations.py: the gradient in float32) in every network: what that one change gains.

Writes --output (JSON: the machine, every run's epoch times and metrics) and prints Markdown tables.
"""

import collections
import dataclasses
import glob
import json
import os
import platform
import re
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from absl import logging  # noqa: E402

from benchmarks import common  # noqa: E402
from tfvae import data as data_lib  # noqa: E402
from tfvae import evaluation, families, rate_distortion, training  # noqa: E402
from tfvae.colorization import colour  # noqa: E402
from tfvae.colorization import data as colour_data  # noqa: E402
from tfvae.colorization import evaluation as colour_evaluation  # noqa: E402
from tfvae.config import TrainConfig  # noqa: E402
from tfvae.nets import activations  # noqa: E402
from tfvae.restoration import conv_prior, deep_prior, patch_data  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
MODELS = ("vae", "vqvae", "colorize", "denoiser", "conv_denoiser")
SECTIONS = ("models", "pipeline", "profile")
flags.DEFINE_list("models", list(MODELS), f"section models: which of {MODELS}")
flags.DEFINE_list("sections", list(SECTIONS), f"which of {SECTIONS}")
flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"], "precisions every model is trained in")
flags.DEFINE_integer("seed", 0, "section models: the seed of every model's initialization, data order and noise (the "
                     "held-out data and its noise stay fixed)")
flags.DEFINE_integer("vae_epochs", 4, "vae: epochs of 62 steps")
flags.DEFINE_integer("num_samples", 100, "vae: importance samples per test image for the NLL")
flags.DEFINE_integer("vqvae_epochs", 3, "vqvae: epochs of 62 steps")
flags.DEFINE_integer("colorize_epochs", 3, "colorize: epochs of 28 steps (8 crops of each of 57 training images)")
flags.DEFINE_integer("denoiser_steps", 400, "denoiser: training steps")
flags.DEFINE_integer("denoiser_steps_per_epoch", 100, "denoiser: steps per timed epoch")
flags.DEFINE_integer("denoiser_patches", 200_000, "denoiser: training patches drawn from the training images")
flags.DEFINE_integer("conv_denoiser_steps", 300, "conv_denoiser: training steps")
flags.DEFINE_integer("conv_denoiser_steps_per_epoch", 50, "conv_denoiser: steps per timed epoch")
flags.DEFINE_integer("other_xla_epochs", 2, "vqvae, colorize, denoiser, conv_denoiser: epochs of the float32 run "
                     "with use_jit's other choice (XLA on for the convolutional models, off for the denoiser's MLP) "
                     "(throughput only; the vae's is in section pipeline; 0: none)")
flags.DEFINE_integer("rounds", 5, "pipeline: timed train-function calls per case")
flags.DEFINE_integer("large_batch", 512, "pipeline, profile: the second batch size of the conv VAE")
flags.DEFINE_enum("swish", "tfvae", ["tfvae", "tensorflow"], "the swish of every network: tfvae's (its gradient in "
                  "float32: tfvae/nets/activations.py) or tf.nn.silu (TensorFlow's gradient, in the compute dtype), "
                  "to measure what the first gains")
flags.DEFINE_integer("float16_steps", 1, "profile: steps of mixed_float16 timed (after one untimed; 0: none)")
flags.DEFINE_string("output", os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "precision.json"),
                    "JSON results")
FLAGS = flags.FLAGS

CPU_FLAGS = ("avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")
HELD_OUT_SIGMAS = (15, 25, 50)  # denoiser: noise levels of the held-out MSE, on the 0..255 scale


def machine():
    """The platform, cores, CPU model and its mixed-precision flags (/proc/cpuinfo), TF and Keras versions."""
    model, present = platform.processor() or platform.machine(), set()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("", platform.machine()):
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    present |= set(line.split(":", 1)[1].split())
    return {"description": common.machine(), "platform": platform.platform(), "cpu": model, "cores": os.cpu_count(),
            "cpu_flags": {f: f in present for f in CPU_FLAGS}, "tensorflow": tf.__version__,
            "keras": keras.__version__, "gpus": len(tf.config.list_physical_devices("GPU")),
            "shared": "2 cores shared with other jobs (load averages per run in the JSON)"}


def cases(epochs, other_epochs, convolutional=True):
    """(precision, jit_compile, epochs, evaluate) of one model's runs: every --precisions with use_jit's choice, and
    float32 with its other choice for other_epochs (throughput only): XLA on for a convolutional model (whose `auto`
    is off on a CPU), off for the others."""
    return ([(p, "auto", epochs, True) for p in FLAGS.precisions]
            + ([("float32", "on" if convolutional else "off", other_epochs, False)] if other_epochs else []))


def run_timed(name, batch_size, per_epoch, runs, fit, metric, **extra):
    """The rows of `name` for each (precision, jit_compile, epochs, evaluate) of runs (`cases`): the model
    fit(precision, jit_compile, epochs, timer) returns, timed by epochs of per_epoch steps of batch_size examples;
    metric(model, precision) -> its held-out dict where evaluate. extra: fields added to every row."""
    rows = []
    for precision, jit, epochs, evaluate in runs:
        timer, load = common.EpochTimer(), os.getloadavg()[0]
        start = time.perf_counter()
        model = fit(precision, jit, epochs, timer)
        wall = time.perf_counter() - start
        median, mean = timer.throughput(per_epoch * batch_size)
        rows.append({"model": name, "precision": precision, "batch_size": batch_size, "steps": epochs * per_epoch,
                     "epochs": epochs, "jit_compile": jit, "xla": bool(model.jit_compile), "images_per_s": median,
                     "images_per_s_mean": mean, "epoch_s": timer.times, "train_wall_s": wall, "load_before": load,
                     "load_after": os.getloadavg()[0], **extra})
        if evaluate:
            start = time.perf_counter()
            rows[-1].update(metric=metric(model, precision), eval_wall_s=time.perf_counter() - start)
        report(rows[-1])
    return rows


def run_family(name, data, make_config, batch_size, epochs, metric, other_epochs):
    """Trains make_config(precision) per `cases` through families.train (into a temporary model_dir);
    metric(model, config) -> a dict on the held-out data."""
    configs = {p: dataclasses.replace(make_config(p), seed=FLAGS.seed) for p in {*FLAGS.precisions, "float32"}}
    per_epoch = data_lib.steps_per_epoch(families.of(configs["float32"]).examples_per_epoch(data), batch_size)

    def fit(precision, jit, run_epochs, timer):
        train_config = TrainConfig(batch_size=batch_size, epochs=run_epochs, jit_compile=jit)
        with tempfile.TemporaryDirectory() as model_dir:
            return families.train(configs[precision], train_config, data, model_dir, verbose=0, validate=False,
                                  callbacks=[timer])

    return run_timed(name, batch_size, per_epoch, cases(epochs, other_epochs), fit,
                     lambda model, precision: metric(model, configs[precision]))


def run_vae(data):
    def metric(model, config):
        test = families.of(config).test_batches(data, config, 100)
        result = evaluation.evaluate(model, test, FLAGS.num_samples, config.seed)
        return {k: result[k] for k in ("nll", "bits_per_dim", "elbo", "rate", "distortion", "active_units",
                                       "num_images", "num_samples")}

    return run_family("vae", data, lambda p: families.make_config(input_shape=(28, 28, 1), precision=p), 128,
                      FLAGS.vae_epochs, metric, 0)  # the vae without XLA: section pipeline


def run_vqvae(data):
    def make_config(precision):
        return families.make_config(model="vqvae", input_shape=(28, 28, 1), likelihood="gaussian",
                                    pixels="continuous", precision=precision)

    def metric(model, config):
        test = data_lib.eval_dataset(data_lib.prepare(data.x_test, config.pixels, config.seed, False), 200,
                                     config.pixels, config.seed, labels=data.y_test)
        point = rate_distortion.vqvae_point(model, test)
        return {"mse_per_image": point["mse_per_image"], "mse_per_pixel": point["mse_per_pixel"],
                "rate_uniform_bits": point["rate_uniform_bits"], "perplexity": point["perplexity"][0],
                "codes_used": point["codes_used"][0], "num_images": point["num_images"]}

    return run_family("vqvae", data, make_config, 128, FLAGS.vqvae_epochs, metric, FLAGS.other_xla_epochs)


def run_colorize():
    data = colour_data.load(f"folder:{os.path.join(SHARED, 'color')}", 64)

    def metric(model, config):
        colorize = lambda grey: colour.to_uint8(model.colorize(grey)).numpy()  # noqa: E731
        result = colour_evaluation.method_metrics(colorize, data.x_test)
        return {"psnr": result["psnr"], "ab_rmse": result["ab_rmse"], "auc": result["auc"],
                "num_images": len(data.x_test)}

    return run_family("colorize", data, lambda p: families.make_config(model="colorize", precision=p), 16,
                      FLAGS.colorize_epochs, metric, FLAGS.other_xla_epochs)


def denoiser_patches():
    """(training patches, held-out patches), DC-removed [N, 64], from train400 with every 10th image held out."""
    images = patch_data.read_grey_images(os.path.join(SHARED, "denoise", "train400"))
    held_out = images[9::10]
    trained = [x for i, x in enumerate(images) if i % 10 != 9]
    patches = [patch_data.sample_patches(group, count, 8, seed) for group, count, seed in
               ((trained, FLAGS.denoiser_patches, 0), (held_out, 20_000, 1))]
    return [p - p.mean(1, keepdims=True) for p in patches]


def fit_denoiser(patches, precision, jit_compile, epochs, timer):
    """deep_prior.fit_denoiser(patches, --denoiser_steps, 1024, precision=precision)'s training for `epochs` of
    --denoiser_steps_per_epoch steps, with `timer` as a callback (the batches and the learning-rate schedule are
    fit_denoiser's: step_batches' epochs do not depend on Keras's)."""
    steps, batch_size, seed = FLAGS.denoiser_steps, 1024, FLAGS.seed
    data_scale = float(np.sqrt(np.mean(patches ** 2)))
    table = tf.constant(patches)

    def datasets(start_step):
        return data_lib.step_batches(len(patches), batch_size, seed, lambda step, index: tf.gather(table, index),
                                     start_step), None

    return training.fit(lambda: deep_prior.DenoiserPrior(patches.shape[1], (512, 512, 512), data_scale=data_scale,
                                                         seed=seed, precision=precision),
                        datasets, epochs=epochs, steps_per_epoch=FLAGS.denoiser_steps_per_epoch, seed=seed,
                        learning_rate=keras.optimizers.schedules.CosineDecay(1e-3, steps), jit_compile=jit_compile,
                        per_execution=1, precision=precision, verbose=0, callbacks=[timer])


def denoiser_metric(model, held_out):
    """Held-out denoising loss (training's objective at fixed noise draws) and MSE of D(y, s) against x."""
    x = tf.constant(held_out)
    loss = np.mean([float(model.step_terms(x, tf.constant(10 ** 6 + i, tf.int64), False)["denoising_loss"])
                    for i in range(5)])
    eps = tf.random.stateless_normal(x.shape, seed=[1, 2])
    metric = {"denoising_loss": float(loss), "num_patches": len(held_out)}
    for sigma in HELD_OUT_SIGMAS:
        s = sigma / 255.0
        denoised = model.denoise_patches(x + s * eps, s)
        metric[f"mse_sigma{sigma}"] = float(tf.reduce_mean(tf.square(denoised - x)))
        metric[f"noisy_mse_sigma{sigma}"] = float(tf.reduce_mean(tf.square(s * eps)))
    return metric


def run_denoiser():
    patches, held_out = denoiser_patches()
    runs = cases(FLAGS.denoiser_steps // FLAGS.denoiser_steps_per_epoch, FLAGS.other_xla_epochs, convolutional=False)
    return run_timed("denoiser", 1024, FLAGS.denoiser_steps_per_epoch, runs,
                     lambda precision, jit, epochs, timer: fit_denoiser(patches, precision, jit, epochs, timer),
                     lambda model, precision: denoiser_metric(model, held_out), train_patches=len(patches))


def run_conv_denoiser():
    images, _ = conv_prior.read_training_images(os.path.join(SHARED, "denoise", "train400"), 1)
    set12 = [x[..., None] for x in patch_data.read_grey_images(os.path.join(SHARED, "denoise", "set12"))]
    noisy = conv_prior.noisy_copies(set12, HELD_OUT_SIGMAS, 0)
    per_epoch, batch_size = FLAGS.conv_denoiser_steps_per_epoch, 16

    def fit(precision, jit, epochs, timer):
        return conv_prior.fit_conv_denoiser(images, None, epochs * per_epoch, batch_size=batch_size,
                                            steps_per_epoch=per_epoch, warmup_steps=epochs * per_epoch // 5,
                                            seed=FLAGS.seed, jit_compile=jit, precision=precision, verbose=0,
                                            callbacks=[timer])

    def metric(model, precision):
        psnr = conv_prior.validation_psnr(model, set12, noisy)
        return {**{f"psnr_sigma{s}": v for s, v in psnr.items()}, "num_images": len(set12)}

    runs = cases(-(-FLAGS.conv_denoiser_steps // per_epoch), FLAGS.other_xla_epochs)
    return run_timed("conv_denoiser", batch_size, per_epoch, runs, fit, metric, train_images=len(images))


def report(row):
    metric = ", ".join(f"{k} {v:.4g}" for k, v in row.get("metric", {}).items() if isinstance(v, float))
    print(f"{row['model']} {row['precision']} (XLA {'on' if row['xla'] else 'off'}, batch {row['batch_size']}, "
          f"{row['steps']} steps): {row['images_per_s']:,.0f} images/s (mean {row['images_per_s_mean']:,.0f}); "
          f"{metric or 'timing only'}", flush=True)


# --- the pipeline and the profile: the conv VAE's compiled train function, case by case ---------------------------

def vae_case(data, precision, batch_size, jit_compile="auto", per_execution=32):
    """(model with its train function made, real training batches, the first of them repeated)."""
    config = families.make_config(input_shape=(28, 28, 1), precision=precision)
    family = families.of(config)
    train_config = TrainConfig(batch_size=batch_size, jit_compile=jit_compile)
    per_epoch = data_lib.steps_per_epoch(len(data.x_train), batch_size)
    model, _ = training.compiled(lambda: family.make_model(config), config.seed, tf.distribute.get_strategy(),
                                 per_epoch, jit_compile=jit_compile, per_execution=per_execution,
                                 precision=precision)
    model.make_train_function()
    real, _ = family.datasets(data, config, train_config, 0, validate=False)
    synthetic = tf.data.Dataset.from_tensors(next(iter(real))).repeat()
    return model, real, synthetic


def step_cases():
    """(precision, jit_compile, batch, pipeline) of section pipeline: both pipelines in each precision at batch 128,
    the real one at --large_batch, and use_jit's other choice on a CPU (XLA on) at batch 128 and (float32)
    --large_batch."""
    keys = []
    for precision in FLAGS.precisions:
        keys += [(precision, "auto", 128, "real"), (precision, "auto", 128, "synthetic"),
                 (precision, "auto", FLAGS.large_batch, "real")]
    if "float32" in FLAGS.precisions:
        keys += [("float32", "on", 128, "real"), ("float32", "on", FLAGS.large_batch, "real")]
    if "mixed_bfloat16" in FLAGS.precisions:
        keys.append(("mixed_bfloat16", "on", 128, "real"))
    return keys


def call_seconds(model, iterator):
    """The wall time of one call of the train function (steps_per_execution steps), up to its last step's end."""
    start = time.perf_counter()
    tf.nest.map_structure(lambda t: t.numpy(), model.train_function(iterator))
    return time.perf_counter() - start


def run_pipeline(data, models):
    """Seconds per step of every step_cases case, one case after the other: an untimed call, --rounds timed calls,
    then its iterator is dropped. (Interleaving the cases kept every iterator alive, and each real pipeline refilled
    its prefetch buffer during the next case's calls: on 2 cores that charged the real pipelines with up to 30% more
    time than they take alone.) models: (precision, jit_compile, batch) -> vae_case, filled here and reused by
    section profile."""
    timed = {}
    for key in step_cases():
        precision, jit, batch_size, pipeline = key
        if key[:3] not in models:
            models[key[:3]] = vae_case(data, precision, batch_size, jit)
        model, real, synthetic = models[key[:3]]
        iterator = iter(real if pipeline == "real" else synthetic)
        call_seconds(model, iterator)  # untimed: compilation, the pipeline's start
        timed[key] = (model, [call_seconds(model, iterator) / model.steps_per_execution for _ in range(FLAGS.rounds)])
        del iterator
        print(f"pipeline {key} done (load {os.getloadavg()[0]:.1f})", flush=True)
    rows = []
    for (precision, jit, batch_size, pipeline), (model, times) in timed.items():
        step_s = float(np.median(times))
        rows.append({"precision": precision, "jit_compile": jit, "xla": bool(model.jit_compile),
                     "batch_size": batch_size, "pipeline": pipeline, "step_s": step_s, "step_s_all": times,
                     "images_per_s": batch_size / step_s, "steps_per_call": model.steps_per_execution})
    for row in rows:
        same = [s for s in rows if s["pipeline"] == "synthetic" and s["precision"] == row["precision"]
                and s["jit_compile"] == row["jit_compile"] and s["batch_size"] == row["batch_size"]]
        if row["pipeline"] == "real" and same:
            row["slowdown_vs_synthetic"] = row["step_s"] / same[0]["step_s"] - 1
    return rows


def op_category(op_type):
    if re.search(r"Conv|MatMul|Einsum", op_type):
        return "conv/matmul"
    if re.search(r"Sigmoid|Swish|Softplus|Tanh|Relu|Elu|Exp|Log", op_type):
        return "activation"
    if op_type == "Cast":
        return "cast"
    if re.search(r"Dataset|Iterator|Optional", op_type):
        return "input"
    return "other"


def layer_labels(model):
    """Keras layer name -> a label that is the same in every model of the config ('ConvEncoder0/ResidualBlock1/...')."""
    labels = {}

    def walk(layer, prefix):
        for i, child in enumerate(layer._flatten_layers(include_self=False, recursive=False)):  # noqa: SLF001
            label = f"{prefix}{type(child).__name__}{i}"
            labels[child.name] = label
            walk(child, label + "/")

    walk(model, "")
    return labels


def profile_case(data, models, precision, batch_size, per_execution=32):
    """CPU ms per step by op category and by layer, from TF's profiler over one call of the train function without
    XLA (after an untimed call; section pipeline's model where it ran)."""
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin  # pylint: disable=g-import-not-at-top

    key = (precision, "auto", batch_size)  # on a CPU: without XLA (use_jit)
    if key not in models or per_execution != 32 or models[key][0].jit_compile:
        models[key] = vae_case(data, precision, batch_size, "off", per_execution)
        call_seconds(models[key][0], iter(models[key][1]))
    model, real, _ = models[key]
    iterator = iter(real)
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        wall = call_seconds(model, iterator)
        tf.profiler.experimental.stop()
        path = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[0]
        table, _ = _pywrap_profiler_plugin.xspace_to_tools_data([path], "framework_op_stats", {})
    table = json.loads(table)[0]
    columns = [c["id"] for c in table["cols"]]
    ops = [dict(zip(columns, [c["v"] for c in row["c"]])) for row in table["rows"]]
    steps, labels = model.steps_per_execution, layer_labels(model)
    by_category, by_layer, by_type = collections.Counter(), collections.Counter(), collections.Counter()
    for op in ops:
        if op["type"] == "IDLE":
            continue
        ms = op["total_self_time"] / 1000 / steps
        by_category[op_category(op["type"])] += ms
        by_type[op["type"]] += ms
        scopes = [s if s in labels else re.sub(r"_\d+$", "", s) for s in op["operation"].split("/")]
        found = [labels[s] for s in scopes if s in labels]
        by_layer[found[-1] if found else "(outside layers: activation gradients, loss, optimizer)"] += ms
    return {"precision": precision, "batch_size": batch_size, "steps": steps, "wall_step_ms": 1000 * wall / steps,
            "images_per_s": batch_size * steps / wall, "cpu_ms_per_step": sum(by_category.values()),
            "by_category_ms": dict(by_category.most_common()), "by_op_type_ms": dict(by_type.most_common(15)),
            "by_layer_ms": dict(by_layer.most_common())}


def run_profile(data, models):
    rows = [profile_case(data, models, p, b) for b in (128, FLAGS.large_batch) for p in FLAGS.precisions]
    if FLAGS.float16_steps:  # tens of seconds a step on a CPU: a few steps, not a training run
        rows.append(profile_case(data, models, "mixed_float16", 128, per_execution=FLAGS.float16_steps))
    for row in rows:
        print(f"profile {row['precision']} batch {row['batch_size']}: {row['wall_step_ms']:.0f} ms/step, "
              f"{row['cpu_ms_per_step']:.0f} CPU ms/step "
              + ", ".join(f"{k} {v:.0f}" for k, v in row["by_category_ms"].items()), flush=True)
    return rows


# --- the tables -----------------------------------------------------------------------------------------------------

def metric_text(row):
    m = row.get("metric")
    if not m:
        return "-"
    if row["model"] == "vae":
        return f"NLL {m['nll']:.2f} nats ({m['num_samples']} IS, {m['num_images']} images)"
    if row["model"] == "vqvae":
        return (f"MSE {m['mse_per_image']:.2f} / image; {m['rate_uniform_bits']:.0f} bits uniform, "
                f"perplexity {m['perplexity']:.1f}")
    if row["model"] == "colorize":
        return f"PSNR {m['psnr']:.2f} dB, ab RMSE {m['ab_rmse']:.2f}"
    if row["model"] == "conv_denoiser":
        return "Set12 PSNR " + " / ".join(f"{m[f'psnr_sigma{s}']:.2f}" for s in HELD_OUT_SIGMAS) + (
            f" dB at sigma {' / '.join(map(str, HELD_OUT_SIGMAS))}")
    return (f"loss {m['denoising_loss']:.4f}; MSE x1e4 at s=25: {1e4 * m['mse_sigma25']:.2f} "
            f"(noisy {1e4 * m['noisy_mse_sigma25']:.2f})")


def print_tables(results):
    rows = results.get("models", [])
    if rows:
        print("\n| model | precision | XLA | batch | steps | train images/s (median / mean) | vs float32 | metric |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            base = [b for b in rows if b["model"] == r["model"] and b["precision"] == "float32"
                    and b["batch_size"] == r["batch_size"] and "metric" in b]
            ratio = f"{r['images_per_s'] / base[0]['images_per_s']:.2f}x" if base else "-"
            print(f"| {r['model']} | {r['precision']} | {'on' if r['xla'] else 'off'} | {r['batch_size']} "
                  f"| {r['steps']} | {r['images_per_s']:,.0f} / {r['images_per_s_mean']:,.0f} | {ratio} "
                  f"| {metric_text(r)} |")
    if results.get("pipeline"):
        print("\n| precision | XLA | batch | pipeline | s/step (median) | images/s | real vs synthetic |")
        print("|---|---|---|---|---|---|---|")
        for r in results["pipeline"]:
            slow = f"{r['slowdown_vs_synthetic']:+.1%}" if "slowdown_vs_synthetic" in r else "-"
            print(f"| {r['precision']} | {'on' if r['xla'] else 'off'} | {r['batch_size']} | {r['pipeline']} "
                  f"| {r['step_s']:.4f} "
                  f"| {r['images_per_s']:,.0f} | {slow} |")
    if results.get("profile"):
        categories = ("conv/matmul", "activation", "cast", "other", "input")
        print("\n| precision | batch | wall ms/step | CPU ms/step | " + " | ".join(categories) + " |")
        print("|---|---|---|---|" + "---|" * len(categories))
        for r in results["profile"]:
            print(f"| {r['precision']} | {r['batch_size']} | {r['wall_step_ms']:.0f} | {r['cpu_ms_per_step']:.0f} | "
                  + " | ".join(f"{r['by_category_ms'].get(c, 0):.0f}" for c in categories) + " |")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    if FLAGS.swish == "tensorflow":
        activations.swish = tf.nn.silu  # what the Swish layers call
    for name in FLAGS.models:
        if name not in MODELS:
            raise app.UsageError(f"--models: {name!r} is not one of {MODELS}")
    start = time.perf_counter()
    data = data_lib.load("mnist_offline")
    results = {"machine": machine(), "flags": {k: FLAGS[k].value for k in (
        "models", "sections", "precisions", "seed", "vae_epochs", "num_samples", "vqvae_epochs", "colorize_epochs",
        "denoiser_steps", "denoiser_patches", "conv_denoiser_steps", "conv_denoiser_steps_per_epoch",
        "other_xla_epochs", "rounds", "large_batch", "swish", "float16_steps")}}
    if "models" in FLAGS.sections:
        runners = {"vae": lambda: run_vae(data), "vqvae": lambda: run_vqvae(data), "colorize": run_colorize,
                   "denoiser": run_denoiser, "conv_denoiser": run_conv_denoiser}
        results["models"] = [row for name in FLAGS.models for row in runners[name]()]
    models = {}  # the conv VAE's compiled cases, shared by sections pipeline and profile
    if "pipeline" in FLAGS.sections:
        results["pipeline"] = run_pipeline(data, models)
    if "profile" in FLAGS.sections:
        results["profile"] = run_profile(data, models)
    results["wall_s"] = time.perf_counter() - start
    print(f"\n{results['machine']['description']}; {results['wall_s'] / 60:.0f} minutes")
    print_tables(results)
    common.write_results(FLAGS.output, results)


if __name__ == "__main__":
    app.run(main)
