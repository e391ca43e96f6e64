//! Finds modules that import each other in a circle, within each crate of a
//! Cargo workspace. Written with `syn` rather than taken from
//! `cargo-modules`, which builds rust-analyzer's crates: this check must stay
//! cheap in a cold CI build.
//!
//! [`tree`] reads a crate's modules from its files; [`graph`] resolves what
//! each module imports to the module that defines it and finds the circles.

pub mod graph;
pub mod tree;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use graph::{cycles, edges};
pub use tree::{Crate, LoadError};

/// One crate target of the workspace: a library, binary, test or bench.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub root: PathBuf,
}

/// The circles of one crate, described for people: each set of modules with
/// the imports that close it and where they are written.
pub fn report(target: &Target) -> Result<Option<String>, LoadError> {
    let krate = Crate::load(&target.root)?;
    let edges = edges(&krate);
    let found = cycles(&edges);
    if found.is_empty() {
        return Ok(None);
    }
    let name = |p: &Vec<String>| format!("crate::{}", p.join("::"));
    let mut out = String::new();
    for set in found {
        let names: Vec<String> = set.iter().map(name).collect();
        let _ = writeln!(
            out,
            "{}: modules import each other in a circle: {}",
            target.name,
            names.join(", ")
        );
        for ((from, to), at) in &edges {
            if set.contains(from) && set.contains(to) {
                let _ = writeln!(
                    out,
                    "    {} -> {}  ({}:{})",
                    name(from),
                    name(to),
                    at.file.display(),
                    at.line
                );
            }
        }
    }
    Ok(Some(out))
}

/// The workspace's crate targets, from `cargo metadata`'s JSON.
pub fn targets(metadata: &serde_json::Value) -> Vec<Target> {
    let mut found = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        for target in package["targets"].as_array().into_iter().flatten() {
            let kinds: Vec<&str> = target["kind"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|k| k.as_str())
                .collect();
            if kinds.contains(&"custom-build") {
                continue;
            }
            if let (Some(package_name), Some(name), Some(root)) = (
                package["name"].as_str(),
                target["name"].as_str(),
                target["src_path"].as_str(),
            ) {
                found.push(Target {
                    name: format!("{package_name} ({} {name})", kinds.join("/")),
                    root: Path::new(root).to_path_buf(),
                });
            }
        }
    }
    found
}
