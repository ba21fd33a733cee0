//! The command line's deadlines: a PostgreSQL or MariaDB connection that stops answering in
//! the middle of a run (a local TCP proxy in front of the real server stops forwarding when
//! the statement writing `posts` is sent) ends the run with exit status 1 within `--timeout`
//! (or `--statement-timeout`) plus a few seconds, with nothing committed; the schema file's
//! `statement_timeout` and `timeout` apply and the flags override them; bad values exit 2.
//! The schema commands take the same flags: `schema infer` and `schema check` against a
//! server that stops answering once connected (the proxy stalls at the first catalog query)
//! exit 1 within the limit, naming the option and the database; `schema ddl --apply` follows
//! its flags, and so does `demo`.

mod common;

use std::time::{Duration, Instant};

use common::{Dir, Out, StallProxy, TestDb, blog_schema};

on_database_servers!(blog:
    a_stalled_connection_exits_1_within_the_timeout_and_commits_nothing,
    a_stalled_connection_exits_1_at_the_statement_timeout_when_the_call_has_no_limit,
    the_schema_file_statement_timeout_applies_and_the_flag_overrides_it,
    the_schema_file_timeout_applies_and_the_flag_overrides_it,
    schema_infer_exits_1_at_the_timeout_when_the_server_stops_answering,
    schema_infer_exits_1_at_the_statement_timeout_when_the_server_stops_answering,
    schema_check_exits_1_at_the_timeout_when_the_server_stops_answering,
    schema_check_follows_the_schema_file_statement_timeout_and_the_flag_overrides_it,
    schema_ddl_apply_follows_the_statement_timeout_flag_over_the_schema_file,
    the_demo_exits_1_at_its_time_limit_flags_and_the_hint_names_them,
    schema_ddl_apply_exits_1_at_the_statement_timeout_when_its_catalog_read_stalls_and_runs_no_statement,
);

const ITEM: &str = "{\"id\": 1, \"name\": \"Alice\", \"posts\": [{\"id\": 1, \"author_id\": 1, \"title\": \"t\"}]}\n";

/// `upsert` of one author with one post through a proxy in front of the test's server that
/// stalls at the `posts` statement, with the schema file `schema` and `extra` flags; the
/// output, how long the run took, and the proxy (dropping it ends the stalled sessions).
fn stalled_upsert(t: &TestDb, schema: &str, extra: &[&str]) -> (Out, Duration, StallProxy) {
    let input = t.dir.write("in.ndjson", ITEM);
    let mut args = vec!["upsert", "--schema", schema, "--root", "Author"];
    args.extend_from_slice(extra);
    args.push(&input);
    stalled_run(t, &args, b"posts")
}

/// The binary with `args` through a proxy in front of the test's server that stalls when a
/// client sends `trigger`: the output, how long the run took, and the proxy.
fn stalled_run(t: &TestDb, args: &[&str], trigger: &[u8]) -> (Out, Duration, StallProxy) {
    let proxy = StallProxy::start(&t.url);
    proxy.stall_on(trigger);
    let (out, elapsed) = run_through(t, args, &proxy);
    assert!(proxy.stalled(), "the proxy stalled at {trigger:?}");
    (out, elapsed, proxy)
}

/// The binary with `args` through `proxy`: the output, and how long the run took.
fn run_through(t: &TestDb, args: &[&str], proxy: &StallProxy) -> (Out, Duration) {
    let mut cmd = t.command(args);
    cmd.env("DATABASE_URL", proxy.url(&t.url));
    let started = Instant::now();
    let out = t.dir.run_with(cmd, None);
    let elapsed = started.elapsed();
    eprintln!(
        "{:?}: exit {} after {elapsed:?}: {}",
        t.kind, out.code, out.stderr
    );
    (out, elapsed)
}

/// A run that exited 1 with every fragment on standard error and nothing on standard
/// output, within `seconds` (the limit) plus a few.
fn assert_failed_in_time(out: &Out, elapsed: Duration, seconds: u64, fragments: &[&str]) {
    out.assert_code(1).assert_stderr(fragments);
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
    assert!(elapsed < Duration::from_secs(seconds + 5), "{elapsed:?}");
}

/// Sent first in the catalog's column query of every database, never while connecting.
const CATALOG_QUERY: &[u8] = b"column_name";

/// The blog schema file with `[options]` `options` (TOML lines), written in the test's dir
/// as `name`.
fn blog_with_options(t: &TestDb, name: &str, options: &str) -> String {
    let blog = std::fs::read_to_string(blog_schema()).expect("the blog schema");
    t.dir
        .write(name, &format!("{blog}\n[options]\n{options}\n"))
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

async fn schema_infer_exits_1_at_the_timeout_when_the_server_stops_answering(t: &TestDb) {
    let (out, elapsed, _proxy) =
        stalled_run(t, &["schema", "infer", "--timeout", "2"], CATALOG_QUERY);
    let message = "timed out after 2 s (timeout): the server did not answer the query before \
                   the call's time ran out, so it was abandoned and its connection closed; it \
                   ran outside any transaction";
    assert_failed_in_time(
        &out,
        elapsed,
        2,
        &[message, "\ndatabase: ", "--timeout SECONDS"],
    );
}

/// The command line's default leaves the whole unbounded; each query still has its limit.
async fn schema_infer_exits_1_at_the_statement_timeout_when_the_server_stops_answering(t: &TestDb) {
    let (out, elapsed, _proxy) = stalled_run(
        t,
        &["schema", "infer", "--statement-timeout", "1"],
        CATALOG_QUERY,
    );
    assert_failed_in_time(
        &out,
        elapsed,
        1,
        &[
            "timed out after 1 s (statement_timeout): the server did not answer the query within 1 s",
            "--statement-timeout SECONDS",
        ],
    );
}

async fn schema_check_exits_1_at_the_timeout_when_the_server_stops_answering(t: &TestDb) {
    let s = schema();
    let (out, elapsed, _proxy) = stalled_run(
        t,
        &["schema", "check", "--schema", &s, "--timeout", "2"],
        CATALOG_QUERY,
    );
    assert_failed_in_time(
        &out,
        elapsed,
        2,
        &[
            "timed out after 2 s (timeout): the server did not answer the query",
            "\ndatabase: ",
            "--timeout SECONDS",
        ],
    );
}

/// As for `upsert`: the schema file's `[options] statement_timeout` bounds each catalog
/// query, and `--statement-timeout` overrides it.
async fn schema_check_follows_the_schema_file_statement_timeout_and_the_flag_overrides_it(
    t: &TestDb,
) {
    let file = blog_with_options(t, "one.toml", "statement_timeout = 1");
    let (out, elapsed, proxy) =
        stalled_run(t, &["schema", "check", "--schema", &file], CATALOG_QUERY);
    out.assert_code(1)
        .assert_stderr(&["timed out after 1 s (statement_timeout)"]);
    assert!(elapsed < Duration::from_secs(1 + 5), "{elapsed:?}");
    drop(proxy);

    let file = blog_with_options(t, "long.toml", "statement_timeout = 60");
    let (out, elapsed, _proxy) = stalled_run(
        t,
        &[
            "schema",
            "check",
            "--schema",
            &file,
            "--statement-timeout",
            "0.5",
        ],
        CATALOG_QUERY,
    );
    out.assert_code(1)
        .assert_stderr(&["timed out after 0.5 s (statement_timeout)"]);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

/// `schema ddl --apply` on a server that stops answering at its first `CREATE TABLE`: the
/// flag overrides the schema file's `statement_timeout`, as for `upsert`.
async fn schema_ddl_apply_follows_the_statement_timeout_flag_over_the_schema_file(t: &TestDb) {
    let file = blog_with_options(t, "long.toml", "statement_timeout = 60");
    let (out, elapsed, _proxy) = stalled_run(
        t,
        &[
            "schema",
            "ddl",
            "--schema",
            &file,
            "--apply",
            "--statement-timeout",
            "1",
        ],
        b"CREATE TABLE",
    );
    out.assert_code(1)
        .assert_stderr(&["timed out after 1 s (statement_timeout) writing table"]);
    assert!(elapsed < Duration::from_secs(1 + 5), "{elapsed:?}");
}

/// `demo` on a server that stops answering at its DDL script: `--timeout` and
/// `--statement-timeout` bound it, and the hint names the flag that would allow more time.
async fn the_demo_exits_1_at_its_time_limit_flags_and_the_hint_names_them(t: &TestDb) {
    for (flag, option, hint) in [
        (
            "--timeout",
            "timeout",
            "allow more time with --timeout SECONDS",
        ),
        (
            "--statement-timeout",
            "statement_timeout",
            "allow each statement more time with --statement-timeout SECONDS",
        ),
    ] {
        let (out, elapsed, proxy) = stalled_run(t, &["demo", flag, "1"], b"CREATE TABLE");
        assert_failed_in_time(
            &out,
            elapsed,
            1,
            &[
                &format!(
                    "bulkinup: error: timed out after 1 s ({option}): the server did not answer the query"
                ),
                "\ndatabase: ",
                "\nthe blog tables could not be created\n",
                &format!("\n{hint}"),
            ],
        );
        drop(proxy);
    }
}

/// `schema ddl --apply` whose catalog read (of the tables that exist) gets no answer on its
/// connection, while other connections would: the command fails there, before any
/// statement, instead of taking the catalog for empty and applying.
async fn schema_ddl_apply_exits_1_at_the_statement_timeout_when_its_catalog_read_stalls_and_runs_no_statement(
    t: &TestDb,
) {
    let proxy = StallProxy::start(&t.url);
    proxy.stall_connection_on(CATALOG_QUERY);
    proxy.stall_on(b"CREATE TABLE");
    let s = schema();
    let args = [
        "schema",
        "ddl",
        "--schema",
        &s,
        "--apply",
        "--statement-timeout",
        "1",
    ];
    let (out, elapsed) = run_through(t, &args, &proxy);
    assert_failed_in_time(
        &out,
        elapsed,
        1,
        &[
            "bulkinup: error: timed out after 1 s (statement_timeout): the server did not answer the query within 1 s, so it was abandoned",
        ],
    );
    assert_eq!(proxy.triggered(), 1, "only the catalog query was sent");
}

#[test]
fn the_schema_commands_and_the_demo_refuse_a_zero_or_malformed_time_limit_naming_the_flag() {
    let dir = Dir::new();
    let s = schema();
    let url = "postgres://user@127.0.0.1:1/x";
    for (flag, bad, valid) in [
        ("--timeout", "0", "a number of seconds > 0"),
        ("--statement-timeout", "soon", "a number of seconds > 0"),
        ("--connect-timeout", "infinity", "infinity"),
    ] {
        for command in [
            vec!["demo", flag, bad],
            vec!["schema", "infer", flag, bad],
            vec!["schema", "check", "--schema", &s, flag, bad],
            vec!["schema", "ddl", "--schema", &s, "--apply", flag, bad],
        ] {
            let mut cmd = dir.command(&command);
            cmd.env("DATABASE_URL", url);
            let out = dir.run_with(cmd, None);
            out.assert_code(2)
                .assert_stderr(&[&format!("`{flag}`"), valid]);
        }
    }
}
