"""Runs this project's TypeScript (tslab) kernel from Python: whole notebooks headlessly, or single cells.

Two users:
- the tests, and anyone who wants a notebook's outputs without a browser:
  `python3 kernel-setup/tslab_bridge.py execute notebooks/04-od.ipynb --output output/04-od.ipynb`,
- Google Colab, which has no TypeScript kernel: `%load_ext tslab_bridge` in a Python notebook gives a
  `%%typescript` cell magic that sends the cell to a tslab kernel running in the same Colab runtime, and
  `show_notebook(...)` runs one of the task notebooks there and shows its outputs.

tslab answers "abort" to every request that reaches it within 200 ms of a failed cell (its fix for
yunabe/tslab#19), so a runner that sends the next cell straight away would lose it silently. Both runners
here wait past that window after a failure, and the notebook runner reports aborted cells as failures.

Display entries that the TypeScript side overwrites (the live progress line of a running task, which its result
replaces) are passed on with their display id, so they update in place here too.

Outputs are passed on with every form they carry: a table comes as `text/html` with `text/plain` beside it, and
Colab renders the HTML.

Kernels started here get this Python's environment (where colab_runtime.py put the set-up's LD_LIBRARY_PATH,
FLORENCE2_DEVICE and VK_ICD_FILENAMES) with the library folders of its `nvidia-*` packages (the CUDA and cuDNN wheels
the set-up installed, or Colab's PyTorch has) first on LD_LIBRARY_PATH, so that onnxruntime-node's CUDA provider
finds them. Which libraries and CUDA major the provider needs is read from
the provider file by kernel-setup/cuda-needs.ts.
"""
import argparse
import atexit
import json
import os
import sys
import time

# tslab resets its queue 200 ms after a failed cell (tslab/dist/jupyter.js, `execQueue.reset(200)`).
TSLAB_ABORT_WINDOW_S = 0.2
PAUSE_AFTER_ERROR_S = TSLAB_ABORT_WINDOW_S + 0.1
KERNEL_NAME = "florence2-ts"

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT_ROOT = os.path.dirname(HERE)
NOTEBOOKS_DIR = os.path.join(PROJECT_ROOT, "notebooks")


def execute_notebook(path, kernel_name=KERNEL_NAME, cwd=None, timeout=None, output=None):
    """Executes a notebook top to bottom; returns (notebook with outputs, one status per code cell).

    A status is "ok", "error" or "aborted". Cells after a failed one still run (as when a person runs the
    next cell by hand): the kernel stays usable, and this runner waits past tslab's abort window first.
    The kernel's working folder is `cwd`, by default the notebook's own folder, as in Jupyter.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    statuses = []

    def record_status(cell, cell_index, execute_reply):
        statuses.append({"index": cell_index, "status": execute_reply["content"]["status"]})

    async def wait_out_abort_window(cell, cell_index, execute_reply):
        import asyncio

        await asyncio.sleep(PAUSE_AFTER_ERROR_S)

    client = NotebookClient(
        nb,
        kernel_name=kernel_name,
        timeout=timeout,
        allow_errors=True,
        record_timing=True,
        resources={"metadata": {"path": cwd or os.path.dirname(os.path.abspath(path))}},
    )
    client.on_cell_executed = record_status
    client.on_cell_error = wait_out_abort_window
    client.execute(env=kernel_environment())
    if output:
        nbformat.write(nb, output)
    return nb, statuses


class TypeScriptSession:
    """One tslab kernel, fed cell by cell; its outputs are shown in the calling (IPython) notebook."""

    def __init__(self, kernel_name=KERNEL_NAME, cwd=NOTEBOOKS_DIR):
        from jupyter_client.manager import KernelManager

        self.manager = KernelManager(kernel_name=kernel_name)
        # The kernel's folder is its TypeScript rootDir: notebooks/ is where `./src/index` resolves.
        self.manager.start_kernel(cwd=cwd, env=kernel_environment())
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code, timeout=None):
        """Runs TypeScript code; returns "ok", "error" or "aborted". Errors are shown, never raised."""
        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=show_output, allow_stdin=False)
        status = reply["content"]["status"]
        if status != "ok":
            time.sleep(PAUSE_AFTER_ERROR_S)
        return status

    def shutdown(self):
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def cuda_library_dirs():
    """The `lib` folders of this Python's nvidia-* packages (nvidia/cudnn/lib, nvidia/cublas/lib, ...), if any."""
    try:
        import nvidia
    except ImportError:
        return []
    dirs = []
    for root in list(getattr(nvidia, "__path__", [])):
        for entry in sorted(os.listdir(root)):
            lib = os.path.join(root, entry, "lib")
            if os.path.isdir(lib):
                dirs.append(lib)
    return dirs


def kernel_environment(environ=None):
    """The environment for a TypeScript kernel: this one, with cuda_library_dirs() first on LD_LIBRARY_PATH."""
    env = dict(os.environ if environ is None else environ)
    present = [p for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
    extra = [d for d in cuda_library_dirs() if d not in present]
    if extra:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(extra + present)
    return env


def show_output(msg):
    """Shows one of the kernel's iopub messages in the IPython notebook running this code."""
    kind = msg["header"]["msg_type"]
    content = msg["content"]
    if kind == "stream":
        (sys.stderr if content["name"] == "stderr" else sys.stdout).write(content["text"])
    elif kind in ("display_data", "execute_result", "update_display_data"):
        from IPython.display import display

        display_id = (content.get("transient") or {}).get("display_id")
        if display_id:
            # The same id here, so that the kernel's later updates overwrite this entry (update_display_data).
            display(content["data"], raw=True, metadata=content.get("metadata"), display_id=display_id,
                    update=kind == "update_display_data")
        elif kind != "update_display_data":
            display(content["data"], raw=True)
    elif kind == "error":
        sys.stderr.write("\n".join(content.get("traceback") or [content.get("evalue", "")]) + "\n")


def show_notebook(name_or_path, kernel_name=KERNEL_NAME, timeout=None):
    """Runs a task notebook in this runtime (e.g. "od" or "notebooks/od.ipynb") and shows it, outputs included."""
    from IPython.display import Markdown, display

    path = resolve_notebook(name_or_path)
    nb, statuses = execute_notebook(path, kernel_name=kernel_name, timeout=timeout)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            display(Markdown(cell.source))
        elif cell.cell_type == "code":
            display(Markdown("```typescript\n" + cell.source + "\n```"))
            for out in cell.get("outputs", []):
                show_output({"header": {"msg_type": out["output_type"]}, "content": out})
    return statuses


def resolve_notebook(name_or_path):
    """A path, a notebook name ("04-od"), or a task ("OD", "<OD>") -> the notebook's path."""
    if os.path.exists(name_or_path):
        return name_or_path
    stem = name_or_path[: -len(".ipynb")] if name_or_path.endswith(".ipynb") else name_or_path
    known = sorted(f[: -len(".ipynb")] for f in os.listdir(NOTEBOOKS_DIR) if f.endswith(".ipynb"))
    slug = stem.strip("<>").lower().replace("_", "-")
    for name in known:
        if name == stem or name.endswith("-" + slug):
            return os.path.join(NOTEBOOKS_DIR, name + ".ipynb")
    raise FileNotFoundError(f'No notebook "{name_or_path}". Expected a path or one of: {", ".join(known)}')


_session = None


def session(kernel_name=KERNEL_NAME):
    """The shared TypeScript session of `%%typescript` cells, started on first use."""
    global _session
    if _session is None:
        _session = TypeScriptSession(kernel_name=kernel_name)
        # tslab does not watch its parent: without this it would outlive the Python kernel.
        atexit.register(_session.shutdown)
    return _session


def load_ipython_extension(ipython):
    """`%load_ext tslab_bridge`: `%%typescript` (or `%%ts`) cells run in one tslab kernel, in order."""

    def typescript(line, cell):
        session().run(cell)

    ipython.register_magic_function(typescript, magic_kind="cell", magic_name="typescript")
    ipython.register_magic_function(typescript, magic_kind="cell", magic_name="ts")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("execute", help="execute a notebook and save it with its outputs")
    run.add_argument("notebook")
    run.add_argument("--output", required=True, help="where to write the executed notebook")
    run.add_argument("--kernel", default=KERNEL_NAME)
    run.add_argument("--cwd", help="the kernel's working folder (default: the notebook's folder)")
    run.add_argument("--timeout", type=int, help="seconds per cell (default: none)")
    args = parser.parse_args(argv)
    _, statuses = execute_notebook(args.notebook, args.kernel, args.cwd, args.timeout, args.output)
    print(json.dumps({"statuses": statuses}))
    return 0 if all(s["status"] == "ok" for s in statuses) else 1


if __name__ == "__main__":
    sys.exit(main())
