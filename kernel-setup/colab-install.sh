#!/usr/bin/env bash
# Prepares a Google Colab runtime (or any Debian/Ubuntu machine) for this project's notebooks:
# Node.js 20 or newer, the project's npm packages, on an NVIDIA GPU the pieces CUDA needs (onnxruntime-node's CUDA
# provider, then the CUDA and cuDNN libraries it names, from NVIDIA's Python wheels) or else WebGPU through NVIDIA's
# Vulkan driver, a one-line device check, and the TypeScript kernel registered with the runtime's Jupyter.
# Run from a clone of the project: `bash kernel-setup/colab-install.sh`. Safe to run again; steps already
# done are skipped. The first cell of every Colab twin runs it (kernel-setup/colab_runtime.py), once per runtime.
#
#   PYTHON=...                 the Python whose Jupyter gets the kernel and whose pip gets NVIDIA's wheels (python3)
#   NODE_MAJOR=20              the Node.js major version installed when node is missing or older
#   COLAB_STATE_FILE=...       where the kernels' environment and the device line are written (.colab/setup.json)
#   FLORENCE2_CUDA_NEEDS=...   the command that prints what the CUDA provider needs, as JSON
#                              (default: node_modules/.bin/tsx kernel-setup/cuda-needs.ts)
#   FLORENCE2_DEVICE_CHECK=... the device check (default: node_modules/.bin/tsx kernel-setup/colab-device.ts)
#   PIP_INSTALL=...            how wheels are installed (default: $PYTHON -m pip install -q)
#   ORT_PROVIDER_DIR=...       onnxruntime-node's binding folder, where its CUDA provider goes
#   NVIDIA_DRIVER_LIB_DIRS=... folders searched for NVIDIA's Vulkan driver library (default: ldconfig's, /usr/lib64-nvidia)
# The overrides exist so that test/kernel-setup.test.ts can run every branch without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
NODE_MAJOR="${NODE_MAJOR:-20}"
COLAB_STATE_FILE="${COLAB_STATE_FILE:-.colab/setup.json}"
ORT_PROVIDER_DIR="${ORT_PROVIDER_DIR:-node_modules/onnxruntime-node/bin/napi-v6/linux/x64}"
TSX="node node_modules/tsx/dist/cli.mjs"
# npm ci skips onnxruntime-node's postinstall (its CUDA download; the project's .npmrc does too, for any npm); the GPU
# step below runs it where there is a GPU.
export ONNXRUNTIME_NODE_INSTALL=skip

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(node_major)" -lt "$NODE_MAJOR" ]; then
  echo "== Installing Node.js $NODE_MAJOR (found: $(node --version 2>/dev/null || echo none))"
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "Node.js $NODE_MAJOR or newer is needed; install it from https://nodejs.org and run this again." >&2
    exit 1
  fi
  # NodeSource's apt repository is how Node.js's own download page installs a given major on Debian/Ubuntu.
  curl -fsSL "https://deb.nodesource.com/setup_${NODE_MAJOR}.x" | bash -
  apt-get install -y -q nodejs
fi
echo "== Node.js $(node --version)"

if [ ! -x node_modules/.bin/tslab ]; then
  echo "== Installing the project's npm packages (npm ci)"
  if ! npm ci --no-audit --no-fund; then
    # canvas builds from source when its prebuilt binary can't be fetched; that needs cairo and pango headers.
    echo "== npm ci failed; installing node-canvas's build dependencies and trying again"
    apt-get update -q
    apt-get install -y -q --no-install-recommends build-essential pkg-config libcairo2-dev libpango1.0-dev \
      libjpeg-dev libgif-dev librsvg2-dev libpixman-1-dev
    npm ci --no-audit --no-fund
  fi
else
  echo "== npm packages already installed (delete node_modules to reinstall)"
fi

# What the TypeScript kernels must be given, collected below and written to COLAB_STATE_FILE at the end.
LIB_DIRS=()          # folders of the NVIDIA libraries the CUDA provider needs, first on LD_LIBRARY_PATH
CHOSEN_DEVICE=""     # FLORENCE2_DEVICE for the kernels, when this script chose one ("" = the library's auto)
ICD_FILE=""          # VK_ICD_FILENAMES for the kernels, when WebGPU goes through NVIDIA's Vulkan driver
NOTE=""              # one line: why the notebooks run where they do, when it is not plain CUDA or plain CPU

# One field of cuda-needs' JSON (read from stdin): a JavaScript expression over `n`.
needs_field() { node -e 'const n = JSON.parse(require("fs").readFileSync(0, "utf8")); const v = new Function("n", "return " + process.argv[1])(n); console.log(v === null || v === undefined ? "" : v)' "$1"; }

# The cuda-needs JSON, or nothing (and a warning) when the command fails or prints something else.
read_needs() {
  local out
  if out="$(eval "${FLORENCE2_CUDA_NEEDS:-$TSX kernel-setup/cuda-needs.ts}" 2>&1)" && needs_field 'typeof n.ready' <<<"$out" >/dev/null 2>&1; then
    printf '%s' "$out"
  else
    echo "== WARNING: could not read what the CUDA provider needs (${FLORENCE2_CUDA_NEEDS:-kernel-setup/cuda-needs.ts}): $(printf '%s' "$out" | tail -n 1)" >&2
  fi
}

# Folders under this Python's nvidia/ packages (site-packages/nvidia/**) that hold shared libraries.
nvidia_lib_dirs() {
  "$PYTHON" - <<'PY' 2>/dev/null || true
import os
try:
    import nvidia
except ImportError:
    raise SystemExit(0)
for root in list(getattr(nvidia, "__path__", [])):
    for folder, _, files in sorted(os.walk(root)):
        if any(f.startswith("lib") and ".so" in f for f in files):
            print(folder)
PY
}

# NVIDIA's driver library that its Vulkan ICD loads: libGLX_nvidia.so.0, or libEGL_nvidia.so.0 where only EGL is there.
nvidia_vulkan_library() {
  local dirs="${NVIDIA_DRIVER_LIB_DIRS:-}"
  if [ -z "$dirs" ]; then
    dirs="/usr/lib64-nvidia:/usr/lib/x86_64-linux-gnu:/usr/lib64:/usr/lib"
    local found
    found="$( (ldconfig -p 2>/dev/null || true) | sed -n 's/.*\(libGLX_nvidia\|libEGL_nvidia\)\.so\.0.* => \(.*\)$/\2/p' | head -n 1)"
    [ -n "$found" ] && dirs="$(dirname "$found"):$dirs"
  fi
  local name dir
  for name in libGLX_nvidia.so.0 libEGL_nvidia.so.0; do
    IFS=: read -r -a list <<<"$dirs"
    for dir in "${list[@]}"; do
      if [ -e "$dir/$name" ]; then echo "$dir/$name"; return 0; fi
    done
  done
  return 1
}

# The Vulkan loader's ICD file for NVIDIA's driver (what Colab recipes write for EGL), beside the state file.
write_vulkan_icd() {
  local file
  file="$(cd "$(dirname "$COLAB_STATE_FILE")" && pwd)/nvidia_icd.json"
  printf '{\n  "file_format_version": "1.0.0",\n  "ICD": { "library_path": "%s", "api_version": "1.3.0" }\n}\n' "$1" >"$file"
  echo "$file"
}

mkdir -p "$(dirname "$COLAB_STATE_FILE")"

# onnxruntime-node ships its CPU provider in the npm package; its CUDA provider (Linux x64) is fetched from NuGet by
# the package's own installer, script/install.js (the library's CUDA_INSTALL_COMMAND). It runs only where nvidia-smi
# names a GPU.
ORT_CUDA_LIB="$ORT_PROVIDER_DIR/libonnxruntime_providers_cuda.so"
gpu="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 || true)"
if [ -z "$gpu" ]; then
  echo "== No NVIDIA GPU in this runtime: the notebooks run on the CPU (on Colab: Runtime > Change runtime type > T4 GPU)"
elif [ "$(uname -s)/$(uname -m)" != "Linux/x86_64" ]; then
  echo "== NVIDIA GPU ($gpu), but onnxruntime-node has a CUDA provider for Linux x64 only: the notebooks run on the CPU"
else
  if [ -f "$ORT_CUDA_LIB" ]; then
    echo "== NVIDIA GPU ($gpu): onnxruntime-node's CUDA provider is already installed"
  else
    install_command="$($TSX kernel-setup/colab-device.ts --install-command)"
    echo "== NVIDIA GPU ($gpu): installing onnxruntime-node's CUDA provider with its own installer"
    echo "   ($install_command)"
    # Outside npm, so that the installer does not take this for a local install of onnxruntime-node and skip.
    if (unset npm_config_local_prefix npm_package_json; bash -c "$install_command") && [ -f "$ORT_CUDA_LIB" ]; then
      echo "== CUDA provider installed"
    else
      echo "== WARNING: onnxruntime-node's CUDA provider could not be installed (see above)." >&2
    fi
  fi

  # What the provider needs (its CUDA major, the CUDA and cuDNN libraries, the driver), and the wheels for what is missing.
  needs="$(read_needs)"
  wheels=""
  [ -n "$needs" ] && wheels="$(needs_field '[...new Set((n.libraries || []).filter((l) => !l.found && l.wheel).map((l) => l.wheel))].join(" ")' <<<"$needs")"
  if [ -n "$wheels" ]; then
    echo "== Installing the NVIDIA libraries the CUDA $(needs_field 'n.cudaMajor' <<<"$needs") provider needs: pip install $wheels"
    # shellcheck disable=SC2086 # one argument per wheel
    ${PIP_INSTALL:-"$PYTHON" -m pip install -q} $wheels || echo "== WARNING: pip install $wheels failed (see above)." >&2
  fi
  while IFS= read -r dir; do [ -n "$dir" ] && LIB_DIRS+=("$dir"); done < <(nvidia_lib_dirs)
  if [ ${#LIB_DIRS[@]} -gt 0 ]; then
    LD_LIBRARY_PATH="$(IFS=:; echo "${LIB_DIRS[*]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LD_LIBRARY_PATH
    echo "== NVIDIA library folders on LD_LIBRARY_PATH: ${LIB_DIRS[*]}"
  fi

  [ -n "$needs" ] && needs="$(read_needs)"
  if [ -n "$needs" ] && [ "$(needs_field 'n.ready' <<<"$needs")" = "true" ]; then
    echo "== CUDA: the provider and the CUDA $(needs_field 'n.cudaMajor' <<<"$needs") libraries it needs are all found"
  else
    problem=""
    if [ -n "$needs" ]; then problem="$(needs_field 'n.problem' <<<"$needs")"; fi
    problem="${problem:-what it needs could not be read}"
    if vulkan_lib="$(nvidia_vulkan_library)"; then
      ICD_FILE="$(write_vulkan_icd "$vulkan_lib")"
      export VK_ICD_FILENAMES="$ICD_FILE"
      if [ -z "${FLORENCE2_DEVICE:-}" ]; then CHOSEN_DEVICE=webgpu; export FLORENCE2_DEVICE=webgpu; fi
      NOTE="CUDA can't run here ($problem): WebGPU through NVIDIA's Vulkan driver ($vulkan_lib) instead."
    else
      NOTE="CUDA can't run here ($problem), and NVIDIA's Vulkan driver (libGLX_nvidia.so.0, libEGL_nvidia.so.0) is not there for WebGPU: the notebooks run on the CPU."
    fi
    echo "== $NOTE"
  fi
fi

device_check() { eval "${FLORENCE2_DEVICE_CHECK:-$TSX kernel-setup/colab-device.ts}"; }
if ! device="$(device_check)" && [ "$CHOSEN_DEVICE" = webgpu ]; then
  NOTE="CUDA can't run here (${problem:-}), and WebGPU through NVIDIA's Vulkan driver did not start ($device): the notebooks run on the CPU."
  echo "== $NOTE"
  CHOSEN_DEVICE=cpu
  ICD_FILE=""
  unset VK_ICD_FILENAMES
  export FLORENCE2_DEVICE=cpu
  device="$(device_check || true)"
fi
echo "== Device check: $device"

echo "== Registering the TypeScript kernel with $PYTHON's Jupyter"
$TSX kernel-setup/kernel.ts install --python "$PYTHON"

# For colab_runtime.py: the kernels get these, and the device line is printed by every twin's first cell.
STATE_DEVICE="$device" STATE_NOTE="$NOTE" STATE_CHOSEN="$CHOSEN_DEVICE" STATE_ICD="$ICD_FILE" \
  STATE_LIBS="$(IFS=:; echo "${LIB_DIRS[*]:-}")" node -e '
const e = process.env;
const env = {};
if (e.STATE_CHOSEN) env.FLORENCE2_DEVICE = e.STATE_CHOSEN;
if (e.STATE_ICD) env.VK_ICD_FILENAMES = e.STATE_ICD;
const state = { device: e.STATE_DEVICE, notes: e.STATE_NOTE ? [e.STATE_NOTE] : [], library_path: e.STATE_LIBS ? e.STATE_LIBS.split(":") : [], env };
require("fs").writeFileSync(process.argv[1], JSON.stringify(state, null, 1) + "\n");
' "$COLAB_STATE_FILE"
echo "== Wrote $COLAB_STATE_FILE (the TypeScript kernels' environment and this device line)"
