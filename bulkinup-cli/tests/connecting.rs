//! The command line's side of connecting: `--connect-timeout SECONDS` and `[options]
//! connect_timeout` bound the connect, a refused connection exits 1 at once with the reason
//! and the URL without its password, a server that never answers exits 1 when the limit is
//! reached — on the PostgreSQL and MariaDB drivers (a closed port and a silent listener need
//! no server); on every real database a short limit still connects and writes.

mod common;

use std::time::{Duration, Instant};

use common::{Dir, Out, TestDb, blog_schema};
use serde_json::json;

on_network_drivers!(
    a_closed_port_exits_1_at_once_saying_connection_refused_without_the_password,
    a_server_that_never_answers_exits_1_after_the_connect_timeout,
    the_schema_file_connect_timeout_applies_and_the_flag_overrides_it,
);

on_every_database!(blog: a_short_connect_timeout_connects_and_writes);

const ITEM: &str = "{\"id\": 1, \"name\": \"Alice\"}\n";

/// `upsert` of one author at `url` with `extra` flags, and how long the run took.
fn upsert_at(dir: &Dir, schema: &str, url: &str, extra: &[&str]) -> (Out, Duration) {
    let input = dir.write("in.ndjson", ITEM);
    let mut args = vec!["upsert", "--schema", schema, "--root", "Author"];
    args.extend_from_slice(extra);
    args.push(&input);
    let mut cmd = dir.command(&args);
    cmd.env("DATABASE_URL", url);
    let started = Instant::now();
    let out = dir.run_with(cmd, None);
    (out, started.elapsed())
}

fn schema() -> String {
    blog_schema().display().to_string()
}

async fn a_closed_port_exits_1_at_once_saying_connection_refused_without_the_password(
    scheme: &str,
) {
    let dir = Dir::new();
    let url = format!("{scheme}://user:secret@127.0.0.1:1/x");
    let (out, elapsed) = upsert_at(&dir, &schema(), &url, &[]);
    eprintln!("{scheme}: exited after {elapsed:?}");
    out.assert_code(1).assert_stderr(&[
        &format!("cannot connect to {scheme}://user:***@127.0.0.1:1/x: connection refused"),
        "nothing was written",
    ]);
    assert!(!out.stderr.contains("secret"), "{:?}", out.stderr);
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
    assert!(elapsed < Duration::from_secs(12), "{elapsed:?}");
}

async fn a_server_that_never_answers_exits_1_after_the_connect_timeout(scheme: &str) {
    let dir = Dir::new();
    let addr = common::silent_server();
    let url = format!("{scheme}://user:secret@{addr}/x");
    let (out, elapsed) = upsert_at(&dir, &schema(), &url, &["--connect-timeout", "2"]);
    eprintln!("{scheme}: exited after {elapsed:?} (--connect-timeout 2)");
    out.assert_code(1).assert_stderr(&[
        &format!(
            "cannot connect to {scheme}://user:***@{addr}/x: no answer within 2 s (--connect-timeout)"
        ),
        "nothing was written",
    ]);
    assert!(!out.stderr.contains("secret"), "{:?}", out.stderr);
    assert!(
        elapsed >= Duration::from_secs(2),
        "waited the limit: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(2 + 3), "{elapsed:?}");
}

async fn the_schema_file_connect_timeout_applies_and_the_flag_overrides_it(scheme: &str) {
    let dir = Dir::new();
    let blog = std::fs::read_to_string(blog_schema()).expect("the blog schema");
    let addr = common::silent_server();
    let url = format!("{scheme}://user@{addr}/x");

    let file = dir.write(
        "one.toml",
        &format!("{blog}\n[options]\nconnect_timeout = 1\n"),
    );
    let (out, elapsed) = upsert_at(&dir, &file, &url, &[]);
    eprintln!("{scheme}: exited after {elapsed:?} (connect_timeout = 1)");
    out.assert_code(1)
        .assert_stderr(&["no answer within 1 s (--connect-timeout)"]);
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(1 + 3), "{elapsed:?}");

    let file = dir.write(
        "long.toml",
        &format!("{blog}\n[options]\nconnect_timeout = 60\n"),
    );
    let (out, elapsed) = upsert_at(&dir, &file, &url, &["--connect-timeout", "0.5"]);
    eprintln!("{scheme}: exited after {elapsed:?} (connect_timeout = 60, --connect-timeout 0.5)");
    out.assert_code(1)
        .assert_stderr(&["no answer within 0.5 s (--connect-timeout)"]);
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

async fn a_short_connect_timeout_connects_and_writes(t: &TestDb) {
    let (out, elapsed) = upsert_at(&t.dir, &schema(), &t.url, &["--connect-timeout", "2"]);
    eprintln!("{:?}: run took {elapsed:?}", t.kind);
    out.assert_code(0);
    assert_eq!(t.column("SELECT id FROM authors").await, [json!(1)]);
}

#[test]
fn infinity_and_zero_are_refused_with_exit_2_naming_the_flag_or_the_key() {
    let dir = Dir::new();
    let url = "postgres://user@127.0.0.1:1/x";
    for bad in ["infinity", "0"] {
        let (out, _) = upsert_at(&dir, &schema(), url, &["--connect-timeout", bad]);
        out.assert_code(2)
            .assert_stderr(&["`--connect-timeout`", "a number of seconds > 0"]);
    }
    let blog = std::fs::read_to_string(blog_schema()).expect("the blog schema");
    let file = dir.write(
        "inf.toml",
        &format!("{blog}\n[options]\nconnect_timeout = \"infinity\"\n"),
    );
    let (out, _) = upsert_at(&dir, &file, url, &[]);
    out.assert_code(2).assert_stderr(&[
        "options.connect_timeout",
        "inf.toml:",
        "cannot be `infinity`",
    ]);
}
