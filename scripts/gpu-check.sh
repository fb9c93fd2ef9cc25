#!/bin/sh
# gpu-check.sh — prepare the GPU run: build with CUDA here (this machine has
# nvcc but no GPU), pack every test binary, npg-bench, the examples and the
# Fashion-MNIST files into .gpu/ (../shared/gpu/pack.sh), ready to carry to
# a GPU machine, where `sh scripts/gpu-run.sh` runs all GPU tests, the
# benchmarks and the main job and prints a summary table.
#   NPG_GPU_BUILD=dir   build folder (default build-gpu)
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
b=${NPG_GPU_BUILD:-build-gpu}
# sm_90 machine code only (H100/H200; "90-real": no PTX, which the pack
# would carry compressed at ~4 MB) and one shared libnpg: the pack must stay under the
# device tool's 64 MiB (each statically linked binary would carry ~40 MB of
# device code). NPG_GPU_ARCHS overrides the architectures.
cmake -S . -B "$b" -DNPG_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="${NPG_GPU_ARCHS:-90-real}" \
      -DNPG_LINK_SHARED=ON >/dev/null
cmake --build "$b" -j"$(nproc)"
pack=../shared/gpu/pack.sh
[ -x "$pack" ] || pack=/work/shared/gpu/pack.sh
tests=$(find "$b/tests" -maxdepth 1 -type f -name '*_test_*' -perm -u+x | sort)
sh "$pack" .gpu $tests "$b/bench/npg-bench" "$b/examples/fashion_mnist"
# The device tool carries at most 64 MiB, the repository's own files
# included (~4.5 MB). pack.sh's gzip leaves the libraries at ~24 MB and the
# dataset adds 31 MB: over the limit. xz -9 takes the libraries to ~11 MB
# and the dataset to ~26 MB; scripts/gpu-unpack.sh undoes both on the GPU
# machine, once, with xz or, where xz is missing, Python's lzma module.
gzip -dc .gpu/lib.tar.gz | xz -9 -T"$(nproc)" > .gpu/lib.tar.xz
rm .gpu/lib.tar.gz
cat > .gpu/run.sh <<'RUN'
#!/bin/sh
# run.sh CMD... — on the GPU machine: unpack the carried libraries (once), then run CMD.
here=$(cd "$(dirname "$0")" && pwd)
sh "$here/unpack.sh" || exit 1
export LD_LIBRARY_PATH="/tmp/npg-gpu-rt/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$@"
RUN
cp scripts/gpu-unpack.sh .gpu/unpack.sh
cp bench/torch_ref.py .gpu/
mkdir -p .gpu/data
if ls /usr/share/datasets/fashion-mnist/*.gz >/dev/null 2>&1; then
  for f in /usr/share/datasets/fashion-mnist/*.gz; do
    gzip -dc "$f" | xz -9 -T"$(nproc)" > ".gpu/data/$(basename "$f" .gz).xz"
  done
else
  echo "note: Fashion-MNIST not installed; the GPU run will skip training"
fi
grep -q '^/.gpu/' .git/info/exclude 2>/dev/null || echo /.gpu/ >> .git/info/exclude
du -sh .gpu
echo "with the repository: $(( ($(du -sb .gpu | cut -f1) + $(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)) / 1048576 )) MiB of the 64 MiB the device tool carries"
echo "now, on the GPU machine: sh scripts/gpu-run.sh   (carry .gpu; for a short lease:"
echo "  NPG_GPU_QUICK=1 NPG_GPU_TEST_TIMEOUT=60 NPG_GPU_PARALLEL=4 NPG_GPU_SANITIZE=1"
echo "  took 220 s on an H100, tests 140 s of it; set OUT=/tmp/npg-gpu and tar it into"
echo "  the device tool's \$OUT, which returns at most 8 files)"
