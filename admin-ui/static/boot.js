// Loads the dashboard's WASM; its start function hydrates the page the
// admin server rendered. build_ui writes the hashed names of the files in
// place of the @…@ marks.
import init from "/admin/ai/runtime/assets/@JS@";
init({ module_or_path: "/admin/ai/runtime/assets/@WASM@" });
