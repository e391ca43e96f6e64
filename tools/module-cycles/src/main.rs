//! `module-cycles [MANIFEST_DIR]`: exits 1, naming the modules and the
//! imports, when a module of any crate in the workspace imports another in a
//! circle.

use std::process::{Command, ExitCode};

use anyhow::Context;

fn main() -> anyhow::Result<ExitCode> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".to_owned());
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(&dir)
        .output()
        .context("running cargo metadata")?;
    anyhow::ensure!(
        output.status.success(),
        "cargo metadata failed in {dir}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("reading cargo metadata's JSON")?;
    let targets = module_cycles::targets(&metadata);
    let mut circles = 0;
    for target in &targets {
        if let Some(report) = module_cycles::report(target)? {
            eprint!("{report}");
            circles += 1;
        }
    }
    if circles > 0 {
        eprintln!(
            "{circles} of {} crate targets have module circles",
            targets.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    println!("no module circles in {} crate targets", targets.len());
    Ok(ExitCode::SUCCESS)
}
