//! The HTML document the admin server renders a page into: the head names
//! the build's content-hashed assets (`build_ui` lists them in
//! `assets.json`), the body is the [`App`] the browser hydrates.

use leptos::prelude::*;
use serde::Deserialize;

use crate::components::app::App;
use crate::pages::BASE;

/// The build's files under `{BASE}/assets/`, as `assets.json` names them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Assets {
    pub css: String,
    /// wasm-bindgen's glue.
    pub js: String,
    pub wasm: String,
    /// Loads the glue and the WASM, which hydrates the page.
    pub boot: String,
}

#[component]
pub fn Document(assets: Assets) -> impl IntoView {
    let asset = |name: &str| format!("{BASE}/assets/{name}");
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <title>"AI runtime · admin"</title>
                <link rel="stylesheet" href=asset(&assets.css) />
                <link rel="modulepreload" href=asset(&assets.js) />
                <link rel="preload" href=asset(&assets.wasm) r#as="fetch" r#type="application/wasm" crossorigin="" />
                <script type="module" src=asset(&assets.boot)></script>
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}
