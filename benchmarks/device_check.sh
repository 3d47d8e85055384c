#!/usr/bin/env bash
# The device check: on a fresh GPU machine with this repository, in one command and within 8 minutes,
#   1. installs ".[and-cuda,test]" into a virtualenv,
#   2. runs the tests marked for GPUs (pytest -m gpu: tests/test_gpu.py),
#   3. measures the training throughput of the MLP and conv VAE, the VQ-VAE and its PixelCNN prior, the colorizer and
#      the denoiser, in float32 and mixed precision (benchmarks/device_throughput.py), into
#      benchmarks/results/device_check_<device>.json (the GPU's name, or "cpu").
#
#   bash benchmarks/device_check.sh          # on a GPU machine
#   bash benchmarks/device_check.sh --cpu    # the same on the CPU: installs ".[test]", runs the GPU tests on the CPU
#                                            # (DEVICE_CHECK_CPU=1, smaller sizes) and the CPU batch sizes
#
# Environment: DEVICE_CHECK_VENV=PATH uses that virtualenv as it is (no install; e.g. the checkout's .venv);
# without it the virtualenv is made in DEVICE_CHECK_DIR (default: $TMPDIR or /tmp, tfvae-device-check-venv) and
# reused when it already holds this install. PYTHON picks the interpreter for a new one (default python3).
# Every step is run under its own time limit, taken from what is left of DEVICE_CHECK_BUDGET_S (default 480 s);
# the exit status is that of the first failing step, after the others have run.
set -uo pipefail

MODE=gpu
case "${1:-}" in
  --cpu) MODE=cpu ;;
  "") ;;
  *) echo "usage: bash benchmarks/device_check.sh [--cpu]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
START=$(date +%s)
BUDGET=${DEVICE_CHECK_BUDGET_S:-480}
STATUS=0
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
limit() { local l; l=$(left); echo $(( l > 30 ? l : 30 )); }  # a time limit for a step (timeout 0 would be none)
step() { echo; echo "== $* ($(left) s left)"; }

# --- 1. the virtualenv ------------------------------------------------------------------------------------------------
EXTRAS=$([ "$MODE" = gpu ] && echo "and-cuda,test" || echo "test")
if [ -n "${DEVICE_CHECK_VENV:-}" ]; then
  VENV=$DEVICE_CHECK_VENV
  step "using the virtualenv $VENV as it is"
else
  VENV=${DEVICE_CHECK_DIR:-${TMPDIR:-/tmp}}/tfvae-device-check-venv-$MODE
  step "installing .[$EXTRAS] into $VENV"
  STAMP="$VENV/.tfvae-installed-$(cat setup.py | cksum | cut -d' ' -f1)"
  if [ ! -f "$STAMP" ]; then
    "${PYTHON:-python3}" -m venv "$VENV" &&
      timeout "$(limit)" "$VENV/bin/python" -m pip install --quiet --upgrade pip &&
      timeout "$(limit)" "$VENV/bin/python" -m pip install --quiet ".[$EXTRAS]" && touch "$STAMP" ||
      { echo "device_check: the install failed" >&2; exit 1; }
  fi
fi
PY="$VENV/bin/python"
"$PY" -c "import tensorflow as tf; print('TensorFlow', tf.__version__, '| GPUs:', tf.config.list_physical_devices('GPU'))" \
  2>/dev/null || { echo "device_check: TensorFlow does not import in $VENV" >&2; exit 1; }
if [ "$MODE" = gpu ] && ! "$PY" -c "import tensorflow as tf, sys; sys.exit(not tf.config.list_physical_devices('GPU'))" \
  2>/dev/null; then
  echo "device_check: no GPU visible to TensorFlow (nvidia-smi, CUDA_VISIBLE_DEVICES?); use --cpu for a CPU run" >&2
  exit 1
fi

# --- 2. the GPU tests -------------------------------------------------------------------------------------------------
# At most 45% of what is left, so the throughput keeps its share; a GPU run of them takes about 2 minutes.
TESTS_S=$(( $(limit) * 45 / 100 ))
step "pytest -m gpu (at most $TESTS_S s)"
if [ "$MODE" = cpu ]; then export DEVICE_CHECK_CPU=1; fi
export TF_CPP_MIN_LOG_LEVEL=2
timeout "$TESTS_S" nice "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py -rs || {
  code=$?; [ $code = 124 ] && echo "device_check: the GPU tests ran out of time" >&2; STATUS=$code; }

# --- 3. the throughput ------------------------------------------------------------------------------------------------
# New cases start until 60 s before the end (the longest case, compilation included, takes well under that).
THROUGHPUT_S=$(limit)
CASES_S=$(( THROUGHPUT_S > 90 ? THROUGHPUT_S - 60 : 30 ))
step "benchmarks/device_throughput.py (new cases until $CASES_S s from now)"
ARGS=(--budget_s=$CASES_S)
[ "$MODE" = cpu ] && ARGS+=(--cpu)
timeout "$THROUGHPUT_S" nice "$PY" benchmarks/device_throughput.py "${ARGS[@]}" || {
  code=$?; [ $STATUS = 0 ] && STATUS=$code; }

step "done in $(( $(date +%s) - START )) s, exit status $STATUS"
exit $STATUS
