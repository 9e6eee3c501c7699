"""The second half of the set-up cell of every Colab twin (notebooks/colab/*.ipynb) and of colab_setup.ipynb.

The cell itself gets the project (clone, or update a clone) and calls `set_up(get_ipython())`, which:
1. runs kernel-setup/colab-install.sh once per runtime (Node.js, npm ci, the CUDA provider and the NVIDIA libraries
   it needs on a GPU runtime, the device check, the kernel registration). The script writes what the TypeScript
   kernels need to know into STATE_FILE; a later call in the same runtime (another twin, the same cell again) finds
   it and skips the script, unless the files that decide the install changed (a `git pull` that brought a new
   package-lock.json) or the kernel is no longer registered;
2. puts that environment (the NVIDIA library folders on LD_LIBRARY_PATH, FLORENCE2_DEVICE and VK_ICD_FILENAMES where
   the script chose WebGPU or the CPU) into this Python's os.environ, which tslab_bridge passes to every TypeScript
   kernel it starts, so that the device check and the kernels see the same libraries;
3. loads tslab_bridge's `%%typescript` magic, and prints one line per step and the device line.
"""
import hashlib
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT_ROOT = os.path.dirname(HERE)
INSTALL_SCRIPT = os.path.join(HERE, "colab-install.sh")
# Ignored by git (.gitignore): it describes this runtime, not the project.
STATE_FILE = os.path.join(PROJECT_ROOT, ".colab", "setup.json")
# The files whose change means the install must run again.
INSTALL_INPUTS = ("package-lock.json", "kernel-setup/colab-install.sh")


def fingerprint(python=sys.executable):
    digest = hashlib.sha256(python.encode())
    for name in INSTALL_INPUTS:
        with open(os.path.join(PROJECT_ROOT, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def read_state():
    try:
        with open(STATE_FILE, encoding="utf8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def kernel_registered():
    from jupyter_client.kernelspec import KernelSpecManager

    from tslab_bridge import KERNEL_NAME

    return KERNEL_NAME in KernelSpecManager().find_kernel_specs()


def run_install(python=sys.executable):
    """Runs colab-install.sh with its output shown as it comes; stops the cell when it fails."""
    env = {**os.environ, "PYTHON": python, "COLAB_STATE_FILE": STATE_FILE}
    proc = subprocess.Popen(["bash", INSTALL_SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    for line in proc.stdout:
        print(line, end="")
    if proc.wait() != 0:
        raise SystemExit(f"kernel-setup/colab-install.sh failed with exit code {proc.returncode} (its output is above).")
    state = read_state()
    if state is None:
        raise SystemExit(f"kernel-setup/colab-install.sh finished but wrote no {STATE_FILE}: run this cell again.")
    state["fingerprint"] = fingerprint(python)
    state["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    with open(STATE_FILE, "w", encoding="utf8") as f:
        json.dump(state, f, indent=1)
    return state


def apply_environment(state, environ=None):
    """The install's environment into `environ` (os.environ): library folders first, and what the user set wins."""
    environ = os.environ if environ is None else environ
    present = [p for p in environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
    extra = [d for d in state.get("library_path", []) if d not in present]
    if extra:
        environ["LD_LIBRARY_PATH"] = os.pathsep.join(extra + present)
    for key, value in (state.get("env") or {}).items():
        environ.setdefault(key, value)
    return environ


def set_up(ipython, python=sys.executable):
    """Installs once per runtime, prepares the kernels' environment, loads %%typescript.

    Returns nothing, so that the cell's output is its printed lines only (IPython would print a returned value).
    """
    started = time.time()
    state = read_state()
    if state is not None and state.get("fingerprint") == fingerprint(python) and kernel_registered():
        print(f"Install: already done in this runtime ({state.get('finished')}); skipped (delete {STATE_FILE} to redo it)")
    else:
        state = run_install(python)
        print(f"Install: done in {time.time() - started:.0f} s")
    apply_environment(state)
    import tslab_bridge

    tslab_bridge.load_ipython_extension(ipython)
    print("%%typescript: cells that start with it run in a TypeScript (tslab) kernel next to this Python")
    for line in state.get("notes", []):
        print(line)
    print(state.get("device", "Device: unknown (the install script did not say)"))
