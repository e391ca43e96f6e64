//! `ai-runtime-maintain` as an operator runs it.

use std::process::Command;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The test database's URL, as the `ai_runtime_maintainer` role (taken at
/// connection start).
fn url(options: &PgConnectOptions) -> String {
    format!(
        "postgres://{}@{}:{}/{}?options=-c%20role%3Dai_runtime_maintainer",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap()
    )
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn one_pass_prints_what_it_did_and_exits_0(_: PgPoolOptions, options: PgConnectOptions) {
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_ai-runtime-maintain"))
            .args(["--database-url", &url(&options), "--premake-days", "2"])
            .env_remove("AI_RUNTIME_EVENTS_RETENTION_DAYS")
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success(), "{first:?}");
    let out = String::from_utf8(first.stdout).unwrap();
    assert_eq!(
        out.matches("created ai_runtime_events_p").count(),
        3,
        "{out}"
    );
    assert!(out.contains("dropped: none"), "{out}");

    let second = run();
    assert!(second.status.success());
    assert!(String::from_utf8(second.stdout)
        .unwrap()
        .contains("created: none"));
}

#[test]
fn bad_arguments_say_what_to_fix() {
    let out = Command::new(env!("CARGO_BIN_EXE_ai-runtime-maintain"))
        .args([
            "--database-url",
            "postgres://postgres@127.0.0.1:5432/postgres",
            "--retention-days",
            "0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--retention-days"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_ai-runtime-maintain"))
        .args(["--database-url", "postgres://postgres@127.0.0.1:1/none"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("connecting to the database"), "{err}");
}

#[test]
fn help_never_shows_the_database_url_it_read() {
    let out = Command::new(env!("CARGO_BIN_EXE_ai-runtime-maintain"))
        .arg("--help")
        .env(
            "DATABASE_URL",
            "postgres://owner:hunter2-secret@db.example/prod",
        )
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("--retention-days"), "{help}");
    assert!(!help.contains("hunter2"), "{help}");
}
