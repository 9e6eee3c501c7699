#!/bin/sh
# The GPU check from its packed folder (npm run gpu-check:pack): no Node.js and no network needed.
#   sh run.sh [--size base|tiny] [--tasks CAPTION,OD,...] [--beams N] [--max-new-tokens N] [--devices cpu,webgpu]
# Unpacks Node.js and onnxruntime once into a work folder (./work, or $TMPDIR/florence2-gpu-check when this folder
# is read-only), puts the packed Vulkan loader on LD_LIBRARY_PATH, points it at NVIDIA's Vulkan driver where the
# loader would not find one itself, and runs the check. GPU_CHECK_MODELS sets where the stand-in is generated.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -w "$HERE" ]; then WORK="$HERE/work"; else WORK="${TMPDIR:-/tmp}/florence2-gpu-check"; fi
mkdir -p "$WORK"

# xz where installed, else python3's lzma module: a bare machine has one of them.
unxz_to() {
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$1" > "$2.part"
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2.part"
  else
    echo "gpu-check: xz or python3 is needed to unpack $1 (apt-get install xz-utils)" >&2
    exit 1
  fi
  mv "$2.part" "$2"
}

if ! cmp -s "$HERE/app/PACK_ID" "$WORK/PACK_ID" 2>/dev/null; then
  echo "Unpacking Node.js and onnxruntime into $WORK ..." >&2
  rm -rf "$WORK/app" "$WORK/node" "$WORK/PACK_ID"
  unxz_to "$HERE/node.xz" "$WORK/node"
  chmod +x "$WORK/node"
  cp -R "$HERE/app" "$WORK/app"
  binding="$WORK/app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
  unxz_to "$binding/libonnxruntime.so.1.xz" "$binding/libonnxruntime.so.1"
  rm -f "$binding/libonnxruntime.so.1.xz"
  cp "$HERE/app/PACK_ID" "$WORK/PACK_ID"
fi

export LD_LIBRARY_PATH="$HERE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The loader searches /usr/share/vulkan/icd.d and /etc/vulkan/icd.d itself; NVIDIA's container toolkit puts the
# driver's ICD file under /usr/local/nvidia. Naming NVIDIA's file also keeps a software driver from being chosen.
if [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd"; break; fi
  done
fi
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="$WORK/xdg"
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
fi
export GPU_CHECK_MODELS="${GPU_CHECK_MODELS:-$WORK/models}"
exec "$WORK/node" "$WORK/app/gpu-check.js" "$@"
