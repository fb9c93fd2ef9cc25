#!/bin/sh
# gpu-unpack.sh — on the GPU machine (copied to .gpu/unpack.sh by
# scripts/gpu-check.sh): unpack the carried libraries into /tmp/npg-gpu-rt
# and the xz-compressed Fashion-MNIST files into /tmp/npg-gpu-data as the .gz
# files npg_load_idx reads. Once per machine: a stamp file marks it done.
# Uses xz where the machine has it, else Python's lzma module.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
rt=/tmp/npg-gpu-rt
[ -f "$rt/.done" ] && [ "$rt/.done" -nt "$here/lib.tar.xz" ] && exit 0
unxz() { # unxz IN OUT: decompress one .xz file
  if command -v xz >/dev/null 2>&1; then xz -dc "$1" > "$2"
  else python3 -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as i, open(sys.argv[2], "wb") as o: shutil.copyfileobj(i, o, 1 << 20)' "$1" "$2"
  fi
}
rm -rf "$rt"; mkdir -p "$rt"
unxz "$here/lib.tar.xz" "$rt/lib.tar"
tar -C "$rt" -xf "$rt/lib.tar" && rm "$rt/lib.tar"
d=/tmp/npg-gpu-data
rm -rf "$d"; mkdir -p "$d"
for f in "$here"/data/*.xz; do
  [ -f "$f" ] || continue
  n=$(basename "$f" .xz)
  unxz "$f" "$d/$n" && gzip -1 "$d/$n" # -> $d/$n.gz
done
touch "$rt/.done"
