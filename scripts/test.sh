#!/bin/sh
# test.sh — the whole test suite, from a fresh clone on Debian 12:
# installs dependencies, builds (with the CUDA backend when nvcc is present;
# CUDA tests skip without a GPU), runs every Criterion suite through ctest,
# then runs every suite again with NPG_DEVICE=cuda on the CUDA backend built
# for the CPU emulator (NPG_CUDA=EMU, tests/cuemu: the real src/cuda code, no
# GPU), then does the same with AddressSanitizer + UndefinedBehaviorSanitizer, runs
# a multi-threaded race check under ThreadSanitizer, and
# runs npg-bench --quick as a smoke test when it is built.
#   NPG_TEST_SKIP_EMU=1    skip the emulated-CUDA pass
#   NPG_TEST_SKIP_ASAN=1   skip the sanitizer pass
#   NPG_TEST_SKIP_TSAN=1   skip the ThreadSanitizer pass
#   NPG_DEVICE=cuda        run the suites on the GPU
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

if [ -x build/bench/npg-bench ]; then
  build/bench/npg-bench --quick --json build/bench-quick.json >/dev/null
  python3 -c "import json,sys; d=json.load(open('build/bench-quick.json')); assert d['results'], 'no results'" 
  echo "npg-bench --quick: ok"
fi

if [ "${NPG_TEST_SKIP_EMU:-0}" != 1 ]; then
  # src/cuda compiled by the host compiler onto the emulator: the device is
  # "cuda", every suite runs on it (ctest sets NPG_DEVICE=cuda).
  cmake -S . -B build-emu -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNPG_CUDA=EMU \
        -DNPG_BUILD_BENCH=OFF -DNPG_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build build-emu -j"$jobs"
  (cd build-emu && ctest --output-on-failure -j"$jobs")
fi
if [ "${NPG_TEST_SKIP_ASAN:-0}" != 1 ]; then
  # The sanitizer build is CPU-only: ASan and the CUDA runtime do not mix.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DNPG_SANITIZE=ON -DNPG_CUDA=OFF \
        -DNPG_BUILD_BENCH=OFF -DNPG_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build build-asan -j"$jobs"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest --output-on-failure -j"$jobs")
fi
if [ "${NPG_TEST_SKIP_TSAN:-0}" != 1 ]; then
  # ThreadSanitizer over several threads using npg at once (tests/tsan).
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DNPG_SANITIZE_THREAD=ON -DNPG_CUDA=OFF \
        -DNPG_BUILD_BENCH=OFF -DNPG_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build build-tsan -j"$jobs"
  (cd build-tsan && ctest --output-on-failure)
fi
echo "all tests passed"
