#!/usr/bin/env bash
# Re-measure every figure of docs/results/ that depends on the embedded default model (`make results`).
#
#   bash scripts/measure_default.sh [STEP ...]        # no STEP: all of them, in this order
#
# Run it again whenever the default's weights change (a new `python -m shufflenet.model.publish`); every file it
# writes is replaced atomically by the tool that measures it, and the summary (default_model.{json,md}) is
# rebuilt from them at the end. Steps (files written under $RESULTS, default docs/results):
#   export        `shufflenet-export` of the default to $ARTIFACTS (default artifacts/default, = `make demo`)
#   eval          accuracy of the PyTorch checkpoint, ONNX and TFLite files on the CIFAR-10 test set
#                 (eval_default_onnx_tflite.json)
#   executorch    the same for the two ExecuTorch programs (.pte, fp32 and int8), on all 10,000 images
#                 (eval_default_executorch.json)
#   coreml        the same for the four Core ML programs on the NumPy ML Program evaluator, on all 10,000 images
#                 (about 20 min here) or a deterministic subset of $COREML_LIMIT images (eval_default_coreml.json)
#   cifarcalib    an int8 file calibrated on 300 CIFAR-10 training images instead of the install's photos
#                 (eval_cifarcalib.json)
#   parity        x86 parity of every file and the per-layer int8 drift (parity_default.{json,md})
#   arm64-parity  parity on aarch64 LiteRT under emulation, cortex-a53, cortex-a76, max
#                 (parity_default_arm64.{json,md})
#   arm64-int8    the int8 file's accuracy on all test images on cortex-a53 and cortex-a76
#                 (eval_default_arm64_int8_cortex-a53.json, ..._cortex-a76.json; about 10 min each)
#   arm64-fp32    the float32 file on cortex-a53, a 1,000-image subset (eval_default_arm64_fp32_cortex-a53_1000.json)
#   arm64-fp16    the float16-arithmetic file where it computes in float16: accuracy on cortex-a76, a 1,000-image
#                 subset (eval_default_arm64_fp16-arith_cortex-a76_1000.json; hours: emulated float16 is slow),
#                 parity on 100 CIFAR-10 test images on cortex-a53, cortex-a76 and max
#                 (parity_default_arm64_fp16_arith.{json,md}), and the instructions its kernels run, half against
#                 single precision, at 32x32 and for g3 1.0x at 224 (arm64_kernels_default.json,
#                 arm64_kernels_g3_1.0x_224.json)
#   android       the app's assets and cross-language golden test on this export (pass/fail; no file), and the
#                 preprocessing memory benchmark (android_demo_memory.json; it depends on the input size only)
#   host          host latency of every file, thread CPU clock (host_default_cpu.{json,md,...})
#   profile       per-unit profile of the float32 and int8 .tflite files (profile_default.{json,md})
#   arm64-bench   emulated evaluation time and the instruction classes per CPU model (arm64_bench.json)
#   npu           the .tflite files compiled for every Qualcomm SoC (`--npu qualcomm:all`) and their parity on the
#                 HTP emulator against PyTorch and their CPU files (npu_default.json; about 30 min)
#   summary       default_model.{json,md}: the headline figures of all of the above, checked against targets, and
#                 measured_on.json: this machine and the sha256 of each file of the export they were measured on
#
# Needs: `make install` (.venv), ../shared/data (CIFAR-10 archive, ImageNet sample photos), for the arm64 steps
# `bash scripts/setup_arm64.sh`, for android `bash android_demo/scripts/setup_toolchain.sh`.
# Environment: ARTIFACTS, RESULTS, DATA (CIFAR-10 root holding train/ and test/, default .cache/cifar10,
# extracted from ../shared/data/cifar10-jpeg.tar.gz when absent), SHARED (default ../shared), COREML_LIMIT.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
bin=$repo/.venv/bin
artifacts=${ARTIFACTS:-artifacts/default}
results=${RESULTS:-docs/results}
shared=${SHARED:-../shared}
data=${DATA:-.cache/cifar10}
samples=$shared/data/imagenet/samples
runs=runs/measure_default
all=(export eval executorch coreml cifarcalib parity arm64-parity arm64-int8 arm64-fp32 arm64-fp16 android host profile
  arm64-bench npu summary)
steps=("$@")
[[ ${#steps[@]} -gt 0 ]] || steps=("${all[@]}")
for s in "${steps[@]}"; do
  [[ " ${all[*]} " == *" $s "* ]] || { echo "error: unknown step '$s'; steps: ${all[*]}" >&2; exit 2; }
done
[[ -x $bin/python ]] || { echo "error: no .venv here; run 'make install' first" >&2; exit 2; }
[[ -d $samples ]] || { echo "error: $samples not found; set SHARED to the folder holding data/" >&2; exit 2; }
if [[ ! -d $data/test ]]; then
  mkdir -p "$(dirname "$data")"
  tar -xzf "$shared/data/cifar10-jpeg.tar.gz" -C "$(dirname "$data")"
fi
mkdir -p "$results" "$runs"
arch=$("$bin/python" -c 'from shufflenet.model.pretrained import default_variant_name as d; print(d())')
log() { echo "[measure_default $(date -u +%H:%M:%S)] $*" >&2; }
want() { [[ " ${steps[*]} " == *" $1 "* ]]; }
need_export() { [[ -f $artifacts/manifest.json ]] || { echo "error: no export in $artifacts; run the export step" >&2; exit 2; }; }
t_start=$(date +%s)
timings=()
timed() {  # timed NAME CMD...: runs CMD, remembers its wall time for the summary
  local name=$1 t0
  shift
  t0=$(date +%s)
  log "$name: $*"
  "$@"
  timings+=("$name=$(($(date +%s) - t0))")
}

if want export; then
  timed export "$bin/shufflenet-export" --output "$artifacts"
fi
if want eval; then
  need_export
  timed eval "$bin/shufflenet-eval" --artifacts "$artifacts" --data "$data/test" --formats onnx tflite \
    --json "$results/eval_default_onnx_tflite.json"
fi
if want executorch; then
  need_export
  timed executorch "$bin/shufflenet-eval" --artifacts "$artifacts" --data "$data/test" --formats executorch \
    --json "$results/eval_default_executorch.json"
fi
if want coreml; then
  need_export
  timed coreml "$bin/shufflenet-eval" --artifacts "$artifacts" --data "$data/test" --formats coreml \
    --limit "${COREML_LIMIT:-0}" --json "$results/eval_default_coreml.json"
fi
if want cifarcalib; then
  timed cifarcalib-export "$bin/shufflenet-export" --format tflite --precision int8 --calib "$data/train" \
    --output "$runs/cifarcalib"
  timed cifarcalib "$bin/shufflenet-eval" --artifacts "$runs/cifarcalib" --data "$data/test" \
    --json "$results/eval_cifarcalib.json"
fi
if want parity; then
  need_export
  timed parity "$bin/shufflenet-parity" --artifacts "$artifacts" --images "$samples" --per-layer \
    --json "$results/parity_default.json" --markdown "$results/parity_default.md"
fi
if want arm64-parity || want arm64-int8 || want arm64-fp32 || want arm64-fp16 || want arm64-bench; then
  bash scripts/setup_arm64.sh >/dev/null
fi
if want arm64-parity; then
  need_export
  timed arm64-parity "$bin/shufflenet-parity" --artifacts "$artifacts" --images "$samples" \
    --runtime litert-arm64 --cpu cortex-a53,cortex-a76,max \
    --json "$results/parity_default_arm64.json" --markdown "$results/parity_default_arm64.md"
fi
if want arm64-int8; then
  need_export
  for cpu in cortex-a53 cortex-a76; do
    timed "arm64-int8-$cpu" "$bin/shufflenet-eval" --artifacts "$artifacts" --data "$data/test" \
      --runtime litert-arm64 --cpu "$cpu" --precisions int8 --json "$results/eval_default_arm64_int8_$cpu.json"
  done
fi
if want arm64-fp32; then
  need_export
  timed arm64-fp32 "$bin/shufflenet-eval" --artifacts "$artifacts" --data "$data/test" --runtime litert-arm64 \
    --cpu cortex-a53 --precisions fp32 --limit 1000 --json "$results/eval_default_arm64_fp32_cortex-a53_1000.json"
fi
if want arm64-fp16; then
  need_export
  timed arm64-fp16-eval "$bin/shufflenet-eval" --artifacts "$artifacts" --data "$data/test" --runtime litert-arm64 \
    --cpu cortex-a76 --precisions fp16-arith --limit 1000 --timeout 60000 \
    --json "$results/eval_default_arm64_fp16-arith_cortex-a76_1000.json"
  # The float16-arithmetic file alone (the conversion is deterministic: the same bytes as the default export's).
  timed arm64-fp16-export "$bin/shufflenet-export" --format tflite --precision fp16-arith --no-parity --force \
    --output "$artifacts-fp16-arith"
  timed arm64-fp16-parity "$bin/shufflenet-parity" --artifacts "$artifacts-fp16-arith" --images "$data/test" \
    --limit 100 --runtime litert-arm64 --cpu cortex-a53,cortex-a76,max --timeout 6000 \
    --json "$results/parity_default_arm64_fp16_arith.json" --markdown "$results/parity_default_arm64_fp16_arith.md"
  timed arm64-fp16-kernels "$bin/python" -m shufflenet.benchmarks.host_latency.arm64_bench --artifacts "$artifacts" \
    --only-kernels --json "$results/arm64_kernels_default.json"
  timed arm64-fp16-export-224 "$bin/shufflenet-export" --arch shufflenet_v1_g3_1.0x --random-init --format tflite \
    --precision fp32,fp16-arith --no-parity --force --output "$artifacts-g3-224"
  timed arm64-fp16-kernels-224 "$bin/python" -m shufflenet.benchmarks.host_latency.arm64_bench \
    --artifacts "$artifacts-g3-224" --only-kernels --json "$results/arm64_kernels_g3_1.0x_224.json"
fi
if want android; then
  bash android_demo/scripts/setup_toolchain.sh >/dev/null
  # The app's assets (prepare_assets.py) and the cross-language golden test (Java preprocessing, dequantization
  # and top-k against Python and LiteRT) on the default's export instead of the tests' small random-init one.
  timed android-golden env SHUFFLENET_ANDROID_TEST_EXPORT="$repo/$artifacts" "$bin/pytest" -q -n 0 \
    -p no:cacheprovider tests/android_demo/test_android_golden.py tests/android_demo/test_android_assets.py
  timed android-memory "$bin/python" android_demo/scripts/benchmark_memory.py --out "$results/android_demo_memory.json"
fi
if want host; then
  need_export
  timed host "$bin/shufflenet-bench" host --artifacts "$artifacts" --clock cpu --json "$results/host_default_cpu.json"
fi
if want profile; then
  need_export
  timed profile "$bin/shufflenet-bench" profile --artifacts "$artifacts" --clock cpu --rounds 5 \
    --files "${arch}_float32.tflite" "${arch}_int8_full_integer_int8_io.tflite" --json "$results/profile_default.json"
fi
if want arm64-bench; then
  need_export
  timed arm64-bench "$bin/python" -m shufflenet.benchmarks.host_latency.arm64_bench --artifacts "$artifacts" --images 16 \
    --kernels --json "$results/arm64_bench.json"
fi
if want npu; then
  timed npu-export "$bin/shufflenet-export" --format tflite --npu qualcomm:all --output "$runs/npu"
  timed npu-parity "$bin/shufflenet-parity" --artifacts "$runs/npu" --json "$runs/npu_parity.json" || true
  # One object per file: the manifest's entry (size, sha256, the npu object) and its parity row.
  "$bin/python" - "$runs/npu" "$runs/npu_parity.json" "$results/npu_default.json" <<'PY'
import json, sys
from shufflenet.export.manifest import read_manifest
from shufflenet.model.files import write_json_atomic
m = read_manifest(sys.argv[1])
rows = {r["path"]: r for r in json.loads(open(sys.argv[2]).read())}
files = [{k: e.get(k) for k in ("path", "precision", "size_bytes", "sha256", "npu")} | {"parity": rows[e["path"]]}
         for e in m["artifacts"]]
write_json_atomic(sys.argv[3], {"arch": m["arch"], "input_size": m["input_size"], "source": m["source"]["kind"],
                                "command": "shufflenet-export --format tflite --npu qualcomm:all; shufflenet-parity --json",
                                "tool_versions": m["tool_versions"], "files": files})
PY
fi
if want summary; then
  need_export
  # Where and from what the figures were measured: this machine, and the export's files by sha256 (the model files
  # are the same bytes on any x86-64 host: docs/export.md#reproducible-files).
  "$bin/python" - "$artifacts" "$results/measured_on.json" <<'PY'
import sys
from shufflenet.benchmarks.host_latency.machine import machine_description
from shufflenet.export.manifest import read_manifest
from shufflenet.model.files import write_json_atomic
m = read_manifest(sys.argv[1])
write_json_atomic(sys.argv[2], {"machine": machine_description(), "tool_versions": m["tool_versions"],
                                "files": {e["path"]: e["sha256"] for e in m["artifacts"]}})
PY
  timed summary "$bin/python" -m shufflenet.benchmarks.reports.default_summary --results "$results"
fi
log "done in $(($(date +%s) - t_start)) s: ${timings[*]}"
