#!/bin/sh
# install-deps.sh [--bench] — install what npg needs from Debian 12's
# packages (as root, or through sudo when it is there). Idempotent: it
# installs only what is missing and skips apt-get update when nothing is.
#   build: gcc, cmake, pkg-config, OpenBLAS (OpenMP build), Criterion, zlib,
#          the DLPack header
#   main job: the Fashion-MNIST dataset
#   --bench: NumPy and PyTorch (CPU) for side-by-side benchmarks
set -eu
pkgs="build-essential cmake pkg-config libopenblas-openmp-dev libopenblas-dev libcriterion-dev zlib1g-dev libdlpack-dev dataset-fashion-mnist python3-numpy"
if [ "${1:-}" = "--bench" ]; then pkgs="$pkgs python3-torch"; fi
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO=sudo
echo "installing:$missing"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
