#!/bin/sh
# main.sh [fashion_mnist options] — the main job: install what is missing,
# build npg (with the CUDA backend when nvcc is present), and train on
# Fashion-MNIST. Defaults: MLP, 10 epochs, Adam; the device is NPG_DEVICE,
# else a GPU if present, else the CPU. Outputs (checkpoint .npz, curves
# .csv/.svg) go to fashion_mnist_out/. Example: sh scripts/main.sh --model cnn --epochs 5
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target fashion_mnist
# OpenMP threads wait passively between parallel regions: on a shared or busy
# machine, spinning threads steal the cores the work needs.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
exec build/examples/fashion_mnist "$@"
