/**
 * The entry of src/hub/ (model downloads from the Hugging Face Hub; see hub/index.ts for its parts). A file and
 * not only the folder because tslab, which runs the notebooks, resolves an import such as "./hub" to "./hub.js"
 * alone, never to a folder's index file.
 */
export * from "./hub/index";
