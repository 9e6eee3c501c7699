/**
 * Prints, as one JSON object, what onnxruntime-node's installed CUDA provider needs and what of it this machine has:
 * the provider file, its CUDA major, each CUDA library it names (DT_NEEDED) plus cuDNN with where it resolves and the
 * NVIDIA wheel that ships it, the driver version against the one that CUDA major needs, and one line naming what is
 * missing and the fix. Set-up scripts (the Colab install) read it to install exactly the wheels that are missing.
 *
 *   node_modules/.bin/tsx kernel-setup/cuda-needs.ts [--binding DIR] [--driver-file FILE]
 *
 * LD_LIBRARY_PATH is read as the process that loads the provider will have it, so run this with that environment.
 * --binding (onnxruntime-node's binding folder) and --driver-file (/proc/driver/nvidia/version) replace where it
 * looks. Exits 0 whatever is missing (the JSON says it); 2 only for a wrong command line.
 */
import { cudaNeeds, systemCudaEnvironment } from "../src/runtime/cuda-provider";

const USAGE = "Usage: tsx kernel-setup/cuda-needs.ts [--binding DIR] [--driver-file FILE]";

function main(argv: string[]): number {
  const env = systemCudaEnvironment();
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if ((flag === "--binding" || flag === "--driver-file") && value !== undefined && !value.startsWith("--")) {
      if (flag === "--binding") env.bindingFolder = value;
      else env.driverVersionFile = value;
      i++;
      continue;
    }
    const why = flag === "--binding" || flag === "--driver-file" ? `${flag} needs a path after it` : `unknown argument ${JSON.stringify(flag)}`;
    process.stderr.write(`cuda-needs: ${why}.\n${USAGE}\n`);
    return 2;
  }
  process.stdout.write(`${JSON.stringify(cudaNeeds(env))}\n`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
