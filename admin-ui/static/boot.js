// Loads the dashboard's WASM; its start function mounts the page.
import init from "/admin/ai/runtime/admin-ui.js";
init({ module_or_path: "/admin/ai/runtime/admin-ui_bg.wasm" });
