#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one run (each part under its own time limit, so one
# that fails or runs long leaves the others' results):
#   1. tests/test_cuda.py: training on CUDA (static; video-dwise with bf16 and
#      channels_last_3d; video-gru), CPU/GPU agreement of predictions, of the Gaussian
#      readout and of the PMD factorisation;
#   2. benchmarks/train_speed.py on CUDA: every model's epoch beside its compute floor and
#      per-part profile, in float32 and then bf16 + channels_last_3d (video models), with
#      the peak GPU memory of training;
#   3. benchmarks/pmd.py --streamed-only on CUDA: a 512 x 512 movie streamed from disk.
#
#     bash benchmarks/gpu_checks.sh OUT_DIR [PMD_FRAMES]
#
# Needs a Python with torch (CUDA) and neurotwin's dependencies; neurotwin itself is taken
# from src/ (no install). Writes at most 8 files into OUT_DIR.
set -u
out=${1:?usage: gpu_checks.sh OUT_DIR [PMD_FRAMES]}
frames=${2:-2000}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
data=${TMPDIR:-/tmp}/neurotwin-gpu-checks

{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  "$py" -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.get_device_name())"
  timeout 110 "$py" -m pytest tests/test_cuda.py -p no:cacheprovider -rs --durations=5
  echo "pytest rc=$?"
} > "$out/cuda_tests.txt" 2>&1

models=sensorium,sensorium+,video-gru,video-3d,video-dwise
timeout 170 "$py" benchmarks/train_speed.py --device cuda --models "$models" \
  --video-preset demo --epochs 3 --no-kit --threads 8 --data "$data" \
  > "$out/train_speed_cuda.json" 2> "$out/train_speed_cuda.err"
echo "train_speed float32 rc=$?" >> "$out/cuda_tests.txt"
timeout 100 "$py" benchmarks/train_speed.py --device cuda --bf16 --channels-last-3d \
  --models video-gru,video-3d,video-dwise --video-preset demo --epochs 3 --no-kit \
  --threads 8 --data "$data" \
  > "$out/train_speed_cuda_bf16.json" 2> "$out/train_speed_cuda_bf16.err"
echo "train_speed bf16 rc=$?" >> "$out/cuda_tests.txt"

timeout 190 "$py" benchmarks/pmd.py --streamed-only --big 512 --big-frames "$frames" \
  --big-methods svd,pmd > "$out/pmd_cuda.json" 2> "$out/pmd_cuda.err"
echo "pmd rc=$?" >> "$out/cuda_tests.txt"
