#!/usr/bin/env bash
# Train a CIFAR-10 ShuffleNet from this working tree on a machine with a CUDA GPU (docs/training.md).
#
#   bash scripts/train_gpu.sh [ARCHIVE] [OUTDIR]
#
# ARCHIVE  the CIFAR-10 JPEG tarball (default .cache/gpu/cifar10-jpeg.tar.gz)
# OUTDIR   where last.pt (resumable checkpoint, rewritten after every epoch), train.log, epochs.json and env.txt
#          go (default $OUT when set, else runs/gpu)
#
# The machine's python3 has PyTorch with CUDA but not this project's pins and no network: nothing is installed.
# The code runs from the working tree through a throw-away namespace folder (shufflenet/model -> ./model) on
# PYTHONPATH. Recipe (environment variables, defaults in brackets; docs/training.md says why):
#   ARCH [shufflenet_v1_g3_1.0x_cifar] EPOCHS [300] BATCH [512] LR [0.4] WARMUP [5] WD [5e-4] LS [0.1] SEED [0]
#   AUGMENT [trivialaugment] CUTOUT [16] EMA [0.999] COMPILE [1: torch.compile with CUDA graphs, fused SGD]
#   EVAL_EVERY [10] epochs between test passes (and after the last)
#   TIME_BUDGET [490] seconds of training (compile included) the schedule must end in: after epoch 3 the epoch
#   count is lowered to what fits at the measured speed, so the learning rate still decays to its end
#   DEVICE [cuda]  TIME_LIMIT [560] seconds before the training process is stopped however far it got (the
#   checkpoint of the last whole epoch stays)  LIMIT [0] images per split (smoke runs)  MAX_STEPS [0]
#   RESUME [path of a last.pt to continue]  PYTHON [python3]  EXTRA [more shufflenet-train flags]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
archive=${1:-$repo/.cache/gpu/cifar10-jpeg.tar.gz}
out=${2:-${OUT:-$repo/runs/gpu}}
py=${PYTHON:-python3}
[[ -f $archive ]] || { echo "error: CIFAR-10 archive $archive not found; pass its path (see docs/training.md)" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/shufflenet-gpu.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The import namespace without pip install: shufflenet.model is this tree's model/ (the only package training needs).
mkdir -p "$work/py/shufflenet"
ln -s "$repo/model" "$work/py/shufflenet/model"
export PYTHONPATH="$work/py${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1  # the per-epoch log lines are the progress; no bar in a log file

{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)"
  "$py" -c 'import sys, torch; print("python", sys.version.split()[0]); print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available()); print("gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-"); import shufflenet.model as m; print("code", m.__file__)'
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  echo "cpus: $(nproc)"
} | tee "$out/env.txt"

t0=$(date +%s)
tar -xzf "$archive" -C "$work"
echo "extracted $archive in $(( $(date +%s) - t0 )) s" | tee -a "$out/env.txt"

resume=()
if [[ -n ${RESUME:-} ]]; then
  [[ $RESUME -ef $out/last.pt ]] || cp "$RESUME" "$out/last.pt"
  resume=(--resume)
fi
limit=()
[[ ${LIMIT:-0} != 0 ]] && limit=(--limit "$LIMIT")
compile=()
[[ ${COMPILE:-1} != 0 ]] && compile=(--compile)

set +e
# SIGINT at the time limit: the run stops like Ctrl-C; last.pt holds every finished epoch and can be resumed.
timeout --signal=INT --kill-after=30 "${TIME_LIMIT:-560}" "$py" -m shufflenet.model.cli_train \
  --device "${DEVICE:-cuda}" --arch "${ARCH:-shufflenet_v1_g3_1.0x_cifar}" \
  --data "$work/cifar10/train" --val "$work/cifar10/test" --cache "$work/cache" \
  --out "$out/last.pt" \
  --epochs "${EPOCHS:-300}" --batch-size "${BATCH:-512}" --lr "${LR:-0.4}" --warmup-epochs "${WARMUP:-5}" \
  --weight-decay "${WD:-5e-4}" --label-smoothing "${LS:-0.1}" --seed "${SEED:-0}" --max-steps "${MAX_STEPS:-0}" \
  --augment "${AUGMENT:-trivialaugment}" --cutout "${CUTOUT:-16}" --ema "${EMA:-0.999}" \
  --eval-every "${EVAL_EVERY:-10}" --time-budget "${TIME_BUDGET:-490}" "${compile[@]}" \
  "${limit[@]}" "${resume[@]}" ${EXTRA:-} 2>&1 | tee "$out/train.log"
rc=${PIPESTATUS[0]}
set -e
echo "training exit status $rc after $(( $(date +%s) - t0 )) s" | tee -a "$out/env.txt"

# The per-epoch log from the checkpoint itself: also there when the run was stopped before its end.
if [[ -f $out/last.pt ]]; then
  "$py" - "$out/last.pt" "$out/epochs.json" <<'PY'
import json, sys, torch
saved = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
json.dump({"arch": saved["arch"], "epoch": saved["epoch"], "epochs": saved.get("schedule_epochs", saved["config"]["epochs"]),
           "hardware": saved.get("hardware"), "train_seconds": saved.get("train_seconds"),
           "config": saved["config"], "history": saved["history"]}, open(sys.argv[2], "w"), indent=1)
best = max((e["test_acc"] or 0 for e in saved["history"]), default=0)
last = saved["history"][-1]
print(f"checkpoint: epoch {saved['epoch']}/{saved.get('schedule_epochs', saved['config']['epochs'])}, "
      f"last test {last['test_acc']} (ema {last.get('ema_test_acc')}), best {best}")
PY
fi
exit "$rc"
