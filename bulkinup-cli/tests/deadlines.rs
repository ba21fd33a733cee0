//! The command line's deadlines: a PostgreSQL or MariaDB connection that stops answering in
//! the middle of a run (a local TCP proxy in front of the real server stops forwarding when
//! the statement writing `posts` is sent) ends the run with exit status 1 within `--timeout`
//! (or `--statement-timeout`) plus a few seconds, with nothing committed; the schema file's
//! `statement_timeout` and `timeout` apply and the flags override them; bad values exit 2.

mod common;

use std::time::{Duration, Instant};

use common::{Dir, Out, StallProxy, TestDb, blog_schema};

on_database_servers!(blog:
    a_stalled_connection_exits_1_within_the_timeout_and_commits_nothing,
    a_stalled_connection_exits_1_at_the_statement_timeout_when_the_call_has_no_limit,
    the_schema_file_statement_timeout_applies_and_the_flag_overrides_it,
    the_schema_file_timeout_applies_and_the_flag_overrides_it,
);

const ITEM: &str = "{\"id\": 1, \"name\": \"Alice\", \"posts\": [{\"id\": 1, \"author_id\": 1, \"title\": \"t\"}]}\n";

/// `upsert` of one author with one post through a proxy in front of the test's server that
/// stalls at the `posts` statement, with the schema file `schema` and `extra` flags; the
/// output, how long the run took, and the proxy (dropping it ends the stalled sessions).
fn stalled_upsert(t: &TestDb, schema: &str, extra: &[&str]) -> (Out, Duration, StallProxy) {
    let proxy = StallProxy::start(&t.url);
    proxy.stall_on(b"posts");
    let input = t.dir.write("in.ndjson", ITEM);
    let mut args = vec!["upsert", "--schema", schema, "--root", "Author"];
    args.extend_from_slice(extra);
    args.push(&input);
    let mut cmd = t.command(&args);
    cmd.env("DATABASE_URL", proxy.url(&t.url));
    let started = Instant::now();
    let out = t.dir.run_with(cmd, None);
    let elapsed = started.elapsed();
    eprintln!(
        "{:?}: exit {} after {elapsed:?}: {}",
        t.kind, out.code, out.stderr
    );
    assert!(proxy.stalled(), "the proxy stalled at the posts statement");
    (out, elapsed, proxy)
}

fn schema() -> String {
    blog_schema().display().to_string()
}

async fn a_stalled_connection_exits_1_within_the_timeout_and_commits_nothing(t: &TestDb) {
    let (out, elapsed, proxy) = stalled_upsert(t, &schema(), &["--timeout", "3"]);
    out.assert_code(1).assert_stderr(&[
        "timed out after 3 s (timeout) writing table `posts`",
        "the server did not answer before the call's time ran out",
        "nothing was written",
        "--timeout SECONDS",
    ]);
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
    assert!(elapsed < Duration::from_secs(3 + 5), "{elapsed:?}");
    drop(proxy);
    assert_eq!(t.count("authors").await, 0);
    assert_eq!(t.count("posts").await, 0);
}

async fn a_stalled_connection_exits_1_at_the_statement_timeout_when_the_call_has_no_limit(
    t: &TestDb,
) {
    let (out, elapsed, proxy) = stalled_upsert(
        t,
        &schema(),
        &["--timeout", "infinity", "--statement-timeout", "1"],
    );
    out.assert_code(1).assert_stderr(&[
        "timed out after 1 s (statement_timeout) writing table `posts`",
        "the server did not answer within 1 s",
        "nothing was written",
        "--statement-timeout SECONDS",
    ]);
    assert!(elapsed < Duration::from_secs(1 + 5), "{elapsed:?}");
    drop(proxy);
    assert_eq!(t.count("authors").await, 0);
}

async fn the_schema_file_statement_timeout_applies_and_the_flag_overrides_it(t: &TestDb) {
    let blog = std::fs::read_to_string(blog_schema()).expect("the blog schema");
    let file = t.dir.write(
        "one.toml",
        &format!("{blog}\n[options]\ntimeout = \"infinity\"\nstatement_timeout = 1\n"),
    );
    let (out, elapsed, proxy) = stalled_upsert(t, &file, &[]);
    out.assert_code(1)
        .assert_stderr(&["timed out after 1 s (statement_timeout)"]);
    assert!(elapsed < Duration::from_secs(1 + 5), "{elapsed:?}");
    drop(proxy);

    let file = t.dir.write(
        "long.toml",
        &format!("{blog}\n[options]\ntimeout = \"infinity\"\nstatement_timeout = 60\n"),
    );
    let (out, elapsed, proxy) = stalled_upsert(t, &file, &["--statement-timeout", "0.5"]);
    out.assert_code(1)
        .assert_stderr(&["timed out after 0.5 s (statement_timeout)"]);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    drop(proxy);
    assert_eq!(t.count("authors").await, 0);
}

/// The CLI sets no limit on the whole call by default, but a schema file's `[options]
/// timeout` still sets one, and `--timeout` overrides it.
async fn the_schema_file_timeout_applies_and_the_flag_overrides_it(t: &TestDb) {
    let blog = std::fs::read_to_string(blog_schema()).expect("the blog schema");
    let file = t
        .dir
        .write("short.toml", &format!("{blog}\n[options]\ntimeout = 1\n"));
    let (out, elapsed, proxy) = stalled_upsert(t, &file, &[]);
    out.assert_code(1)
        .assert_stderr(&["timed out after 1 s (timeout) writing table `posts`"]);
    assert!(elapsed < Duration::from_secs(1 + 5), "{elapsed:?}");
    drop(proxy);

    let file = t
        .dir
        .write("long.toml", &format!("{blog}\n[options]\ntimeout = 60\n"));
    let (out, elapsed, proxy) = stalled_upsert(t, &file, &["--timeout", "0.5"]);
    out.assert_code(1)
        .assert_stderr(&["timed out after 0.5 s (timeout) writing table `posts`"]);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    drop(proxy);
    assert_eq!(t.count("authors").await, 0);
}

#[test]
fn a_zero_or_malformed_statement_timeout_exits_2_naming_the_flag_or_the_key() {
    let dir = Dir::new();
    let input = dir.write("in.ndjson", ITEM);
    let url = "postgres://user@127.0.0.1:1/x";
    for bad in ["0", "-1", "soon"] {
        let mut cmd = dir.command(&[
            "upsert",
            "--schema",
            &schema(),
            "--root",
            "Author",
            "--statement-timeout",
            bad,
            &input,
        ]);
        cmd.env("DATABASE_URL", url);
        dir.run_with(cmd, None)
            .assert_code(2)
            .assert_stderr(&["`--statement-timeout`", "a number of seconds > 0"]);
    }
    let blog = std::fs::read_to_string(blog_schema()).expect("the blog schema");
    let file = dir.write(
        "zero.toml",
        &format!("{blog}\n[options]\nstatement_timeout = 0\n"),
    );
    let mut cmd = dir.command(&["upsert", "--schema", &file, "--root", "Author", &input]);
    cmd.env("DATABASE_URL", url);
    dir.run_with(cmd, None)
        .assert_code(2)
        .assert_stderr(&["options.statement_timeout", "zero.toml:"]);
}
