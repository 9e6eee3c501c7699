/**
 * The entry of src/standin/ (the stand-in model generator; see standin/index.ts). A file and not only the folder
 * because tslab, which runs the notebooks, resolves an import such as "./standin" to "./standin.js" alone, never to
 * a folder's index file.
 */
export * from "./standin/index";
