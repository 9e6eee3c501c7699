#!/usr/bin/env bash
# Prepares a Google Colab runtime (or any Debian/Ubuntu machine) for this project's notebooks:
# Node.js 20 or newer, the project's npm packages, onnxruntime-node's CUDA provider when there is an NVIDIA GPU,
# and the TypeScript kernel registered with the runtime's Jupyter.
# Run from a clone of the project: `bash kernel-setup/colab-install.sh`. Safe to run again; steps already
# done are skipped. kernel-setup/colab_setup.ipynb runs it for you.
#
#   PYTHON=...        the Python whose Jupyter gets the kernel (default: python3)
#   NODE_MAJOR=20     the Node.js major version installed when node is missing or older
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
NODE_MAJOR="${NODE_MAJOR:-20}"
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

# onnxruntime-node ships its CPU provider in the npm package; its CUDA provider (Linux x64) is fetched from NuGet by
# the package's own installer, script/install.js, which `npm run gpu:install` runs forced. It is run only where
# nvidia-smi names a GPU. The CUDA libraries the provider needs (its DT_NEEDED, plus cuDNN) and the driver version
# they need are printed by `tsx kernel-setup/cuda-needs.ts`.
ORT_DIR=node_modules/onnxruntime-node
ORT_CUDA_LIB="$ORT_DIR/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so"
gpu="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 || true)"
if [ -z "$gpu" ]; then
  echo "== No NVIDIA GPU in this runtime: the notebooks run on the CPU (on Colab: Runtime > Change runtime type > T4 GPU)"
elif [ "$(uname -s)/$(uname -m)" != "Linux/x86_64" ]; then
  echo "== NVIDIA GPU ($gpu), but onnxruntime-node has a CUDA provider for Linux x64 only: the notebooks run on the CPU"
elif [ -f "$ORT_CUDA_LIB" ]; then
  echo "== NVIDIA GPU ($gpu): onnxruntime-node's CUDA provider is already installed"
else
  echo "== NVIDIA GPU ($gpu): installing onnxruntime-node's CUDA provider with its own installer"
  echo "   (npm run gpu:install)"
  if npm run --silent gpu:install && [ -f "$ORT_CUDA_LIB" ]; then
    echo "== CUDA provider installed"
  else
    echo "== WARNING: onnxruntime-node's CUDA provider could not be installed (see above): the notebooks run on the CPU." >&2
  fi
fi
echo "== Device check: $(node node_modules/tsx/dist/cli.mjs kernel-setup/colab-device.ts)"

echo "== Registering the TypeScript kernel with $PYTHON's Jupyter"
node node_modules/tsx/dist/cli.mjs kernel-setup/kernel.ts install --python "$PYTHON"
