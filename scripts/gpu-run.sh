#!/bin/sh
# gpu-run.sh — on the GPU machine, from the repo root with .gpu/ (made by
# scripts/gpu-check.sh): every test suite with NPG_DEVICE=cuda, the
# Fashion-MNIST main job (MLP and CNN, float32 and mixed precision) on the GPU, and npg-bench on CUDA
# side by side with PyTorch. Logs go to $OUT (default /tmp/npg-gpu); a
# summary is printed at the end.
#   NPG_GPU_QUICK=1     npg-bench --quick and 3 CNN epochs (a short lease)
#   NPG_GPU_TEST_TIMEOUT=S  seconds per test binary (default 120; twice that
#                       for the fuzzers)
#   NPG_GPU_SANITIZE=1  then compute-sanitizer over the CUDA kernel tests:
#                       memcheck on all of them, racecheck and synccheck on
#                       the reductions (adds up to ~3 min)
set -u
OUT=${OUT:-/tmp/npg-gpu}
mkdir -p "$OUT"
R="sh .gpu/run.sh"
S="$OUT/summary.txt"
: > "$S"
t0=$(date +%s)
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc; } > "$OUT/machine.txt" 2>&1
echo "machine: $(head -1 "$OUT/machine.txt")" >> "$S"
# the carried libraries and dataset are xz-compressed (scripts/gpu-check.sh)
sh .gpu/unpack.sh || echo "unpack: failed" >> "$S"

# 1. every test suite on the GPU (CPU-only suites run too: same binaries),
#    NPG_GPU_PARALLEL binaries at a time (default 1), each with --jobs
#    NPG_GPU_JOBS (default 12 / NPG_GPU_PARALLEL)
: > "$OUT/tests.log"
mkdir -p "$OUT/t"
par=${NPG_GPU_PARALLEL:-1}
jobs=${NPG_GPU_JOBS:-$(( (12 + par - 1) / par ))}
export R OUT jobs
# common_test_devices reads the device-wide free memory (the pool gives a
# freed GiB back to the driver): it runs alone, after the others (with six
# suites beside it, an H100 run saw free memory fall by 266 MB meanwhile)
{ ls .gpu/bin/*_test_* | grep -v devices | xargs -P "$par" -n 1 sh -c '
  t=$1; n=$(basename "$t")
  to=${NPG_GPU_TEST_TIMEOUT:-120}
  case "$n" in *fuzz*) to=$((to * 2)) ;; esac # thousands of synchronising host checks each
  s0=$(date +%s)
  NPG_DEVICE=cuda timeout "$to" $R "$t" --jobs "$jobs" > "$OUT/t/$n.log" 2>&1
  echo "rc=$? secs=$(( $(date +%s) - s0 ))" > "$OUT/t/$n.rc"' sh
  ls .gpu/bin/*_test_* | grep devices | xargs -P 1 -n 1 sh -c '
  t=$1; n=$(basename "$t"); s0=$(date +%s)
  NPG_DEVICE=cuda timeout "${NPG_GPU_TEST_TIMEOUT:-120}" $R "$t" --jobs "$jobs" > "$OUT/t/$n.log" 2>&1
  echo "rc=$? secs=$(( $(date +%s) - s0 ))" > "$OUT/t/$n.rc"' sh; }
for t in .gpu/bin/*_test_*; do
  n=$(basename "$t")
  echo "=== $n $(cat "$OUT/t/$n.rc")" >> "$OUT/tests.log"
  cat "$OUT/t/$n.log" >> "$OUT/tests.log"
  line=$(grep -a "Synthesis" "$OUT/t/$n.log" | tail -1 | sed 's/.*Synthesis: //')
  printf '%-26s %-16s %s\n' "$n" "$(cat "$OUT/t/$n.rc")" "$line" >> "$S"
done
rm -rf "$OUT/t"
echo "tests took $(( $(date +%s) - t0 )) s" >> "$S"

# 2. the main job on the GPU
cnn_epochs=5
[ "${NPG_GPU_QUICK:-0}" = 1 ] && cnn_epochs=3
if [ -f /tmp/npg-gpu-data/train-images-idx3-ubyte.gz ]; then
  for m in "mlp 10 float32" "cnn $cnn_epochs float32" "mlp 10 bfloat16" "cnn $cnn_epochs float16"; do
    set -- $m
    NPG_DEVICE=cuda timeout 150 $R .gpu/bin/fashion_mnist --model "$1" --epochs "$2" --precision "$3" \
      --data /tmp/npg-gpu-data --out "$OUT/fm_$3" --seed 0 --quiet >> "$OUT/train.log" 2>&1
    echo "train $1 $3: rc=$? $(grep '^epoch' "$OUT/train.log" | tail -1)" >> "$S"
  done
fi

# 3. benchmarks (CUDA), with PyTorch side by side when python3 has torch
q=""
[ "${NPG_GPU_QUICK:-0}" = 1 ] && q="--quick"
timeout 200 $R .gpu/bin/npg-bench $q --device cuda --torch python3 --torch-script .gpu/torch_ref.py \
  --data /tmp/npg-gpu-data --json "$OUT/bench.json" --svg "$OUT/bench.svg" > "$OUT/bench.txt" 2>&1
echo "bench: rc=$? (all steps $(( $(date +%s) - t0 )) s)" >> "$S"

# 4. compute-sanitizer (opt-in): out-of-bounds and misaligned accesses in
#    every kernel the CUDA kernel tests run, shared-memory races and
#    barrier misuse in the reductions (the single-pass full reduction's
#    last-block combine included). Criterion forks: --target-processes all.
cs=$(command -v compute-sanitizer 2>/dev/null || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
if [ "${NPG_GPU_SANITIZE:-0}" = 1 ]; then
  if [ -z "$cs" ]; then
    echo "compute-sanitizer: not found" >> "$S"
  else
    for run in "memcheck 120 *" "racecheck 45 cuda/reduce*" "synccheck 45 cuda/reduce*"; do
      set -f; set -- $run; set +f
      # cuda/device_and_memory asks for more than the GPU holds on purpose
      # (NPG_ERR_OOM): memcheck would count the failed cudaMallocAsync as an
      # error. npg checks every API return itself; memcheck looks at memory.
      api=""; [ "$1" = memcheck ] && api="--report-api-errors no"
      NPG_DEVICE=cuda timeout "$2" $R "$cs" --tool "$1" $api --target-processes all --error-exitcode 99 \
        .gpu/bin/cuda_test_cuda_kernels --jobs 1 --filter "$3" > "$OUT/sanitize-$1.log" 2>&1
      rc=$?
      printf 'compute-sanitizer %-9s rc=%-3s %s | %s\n' "$1" "$rc" \
        "$(grep -a 'ERROR SUMMARY' "$OUT/sanitize-$1.log" | sort | uniq -c | tr -s ' ' | tr '\n' ';')" \
        "$(grep -a 'Synthesis' "$OUT/sanitize-$1.log" | tail -1 | sed 's/.*Synthesis: //')" >> "$S"
    done
  fi
fi
cat "$S"
