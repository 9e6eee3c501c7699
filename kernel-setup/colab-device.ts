/**
 * Prints the device the notebooks will get (`Florence2.load`'s default, "auto", or FLORENCE2_DEVICE) and why, in one
 * line: colab-install.sh's last check after installing the CUDA provider. Exits 0 either way; the line says it all.
 *
 *   npx tsx kernel-setup/colab-device.ts
 */
import { chooseDevice } from "../src/runtime/device";

chooseDevice().then(
  (choice) => console.log(choice.summary),
  (err: Error) => console.log(`${err.message}`),
);
