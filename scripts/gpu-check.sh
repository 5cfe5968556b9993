#!/usr/bin/env bash
# Proves CUDA training on a GPU machine and times it. Run from the repo root with a release
# mynah-train built against torch 2.11.0 and the corpus at $CORPUS.
#   usage: scripts/gpu-check.sh OUTDIR
set -euo pipefail
out=${1:?usage: gpu-check.sh OUTDIR}
corpus=${CORPUS:-.devdata/tinyshakespeare.txt}
bin=${BIN:-target/release/mynah-train}
source "$(dirname "$0")/torch-lib.sh"
find_torch_lib "$bin"
mkdir -p "$out"
nvidia-smi -L || true
ldd "$bin" | grep -E 'libtorch_cuda|not found'
echo "== 1x128 (embed 32) on CUDA, 3 minutes"
"$bin" train --corpus "$corpus" --mode text --layers 1 --hidden 128 --embed 32 \
  --device cuda --time-limit 3 --out "$out/cuda-1x128" 2>&1 | tail -n 40
echo "== 3x512 (embed 64) on CUDA, batch 256, 2 minutes"
"$bin" train --corpus "$corpus" --mode text --layers 3 --hidden 512 --embed 64 --batch 256 \
  --device cuda --time-limit 2 --out "$out/cuda-3x512" 2>&1 | tail -n 25
"$bin" eval "$out/cuda-1x128" --corpus "$corpus" --mode text --split val --json
