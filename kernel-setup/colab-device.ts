/**
 * Prints the device the notebooks will get (`Florence2.load`'s default, "auto", or FLORENCE2_DEVICE) and why, in one
 * line: colab-install.sh's check after installing the GPU pieces. Exits 1 when the device asked for can't be had
 * (e.g. FLORENCE2_DEVICE=webgpu without a working Vulkan driver), so that the script can fall back to the CPU; the
 * line says why either way.
 *
 *   npx tsx kernel-setup/colab-device.ts
 *   npx tsx kernel-setup/colab-device.ts --install-command   # the CUDA provider's install command, for the script
 */
import { CUDA_INSTALL_COMMAND, chooseDevice } from "../src/runtime/device";

if (process.argv.includes("--install-command")) {
  console.log(CUDA_INSTALL_COMMAND);
} else {
  chooseDevice().then(
    (choice) => console.log(choice.summary),
    (err: Error) => {
      console.log(err.message);
      process.exitCode = 1;
    },
  );
}
