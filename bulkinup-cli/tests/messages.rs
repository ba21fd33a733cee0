//! Error messages a stranger can act on: each names the thing to fix (the flag, the file,
//! the database), lists the valid choices once, suggests the closest name, and is printed in
//! one style, `bulkinup: error: …` — asserted on the real binary's standard error and exit
//! status, with the state the failed call left behind.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::{Dir, TestDb, blog_schema, wait_with_deadline};

/// The blog schema file, as a string argument.
fn schema() -> String {
    blog_schema().display().to_string()
}

/// A URL of a server that is not there: a run that exits 2 with it never connected.
const NOWHERE: &str = "postgres://nobody@127.0.0.1:1/nothing";

/// `upsert --schema BLOG --root Author` followed by `rest`.
fn upsert(schema: &str, rest: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["upsert", "--schema", schema, "--root", "Author"]
        .map(String::from)
        .to_vec();
    args.extend(rest.iter().map(|s| s.to_string()));
    args
}

/// Runs the binary in `dir` with `args`, no `DATABASE_URL`.
fn run(dir: &Dir, args: &[String]) -> common::Out {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    dir.run(&args)
}

#[test]
fn an_unknown_root_lists_the_schemas_once_and_suggests_the_closest() {
    let dir = Dir::new();
    let s = schema();
    let mut args = upsert(&s, &["--database-url", NOWHERE]);
    args[4] = "Autor".into();
    let out = run(&dir, &args);
    out.assert_code(2);
    assert_eq!(
        out.stderr,
        "bulkinup: error: invalid option `--root`: unknown schema `Autor`: did you mean `Author`? \
         (valid: Address, Author, Category, Comment, Post, Profile, SocialLink, Tag)\n"
    );
}

#[test]
fn an_unknown_changeset_suggests_the_closest() {
    let dir = Dir::new();
    let s = schema();
    let out = run(
        &dir,
        &upsert(&s, &["--database-url", NOWHERE, "--changeset", "chngeset"]),
    );
    out.assert_code(2);
    assert_eq!(
        out.stderr,
        "bulkinup: error: invalid option `--changeset`: schema `Author` has no changeset named \
         `chngeset`: did you mean `changeset`? (valid: changeset, upsert_changeset)\n"
    );
}

#[test]
fn a_mistyped_key_or_field_of_the_schema_file_suggests_the_closest() {
    let dir = Dir::new();
    for (cast, expected) in [
        (
            "casts = [\"id\"]",
            "bulkinup: error: schema error at `schemas.Tag.changesets.changeset.casts`: unknown \
             key `casts`: did you mean `cast`? (valid: cast, required, format, length, number, \
             inclusion, exclusion, cast_assoc, cast_embed) (tags.toml:5:1)\n",
        ),
        (
            "cast = [\"nme\"]",
            "bulkinup: error: schema error in schema `Tag` at `changesets.changeset.cast`: \
             unknown field `nme`: did you mean `name`? (fields of `Tag`: id, name) \
             (tags.toml:5:1)\n",
        ),
    ] {
        let schema = dir.write(
            "tags.toml",
            &format!(
                "[schemas.Tag]\nsource = \"tags\"\nfields = {{ id = \"integer\", name = \"string\" }}\n\
                 [schemas.Tag.changesets.changeset]\n{cast}\n"
            ),
        );
        let out = dir.run(&[
            "upsert",
            "--schema",
            &schema,
            "--root",
            "Tag",
            "--database-url",
            NOWHERE,
        ]);
        out.assert_code(2);
        assert_eq!(out.stderr, expected);
    }
}

#[test]
fn a_missing_input_file_is_named_as_a_file_that_does_not_exist() {
    let dir = Dir::new();
    let s = schema();
    let out = run(
        &dir,
        &upsert(&s, &["--database-url", NOWHERE, "missing.ndjson"]),
    );
    out.assert_code(2);
    assert_eq!(
        out.stderr,
        "bulkinup: error: input file `missing.ndjson` does not exist\n"
    );
}

#[test]
fn a_bad_database_url_flag_is_named_by_the_flag_without_a_doubled_prefix() {
    let dir = Dir::new();
    let s = schema();
    for (url, reason) in [
        (
            "sqlite://x.db?bogus=1",
            "unknown query parameter `bogus` while parsing connection URL",
        ),
        (
            "mysql://127.0.0.1:1/x?ssl-mode=bogus",
            "unknown value \"bogus\" for `ssl_mode`",
        ),
    ] {
        let out = run(&dir, &upsert(&s, &["--database-url", url]));
        out.assert_code(2);
        assert_eq!(
            out.stderr,
            format!(
                "bulkinup: error: invalid option `--database-url`: cannot parse the URL: \
                 {reason}\nnothing was written\n"
            )
        );
    }
    assert!(!dir.path().join("x.db").exists());
}

#[test]
fn a_bad_database_url_from_the_environment_is_named_by_the_variable() {
    let dir = Dir::new();
    let s = schema();
    let args = upsert(&s, &[]);
    let mut cmd = dir.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
    cmd.env("DATABASE_URL", "oracle://scott@db/x");
    let out = dir.run_with(cmd, None);
    out.assert_code(2);
    assert_eq!(
        out.stderr,
        format!(
            "bulkinup: error: invalid option `$DATABASE_URL`: unsupported database URL scheme \
             `oracle:` (valid: {})\n",
            bulkinup::URL_FORMS
        )
    );
}

#[test]
fn a_failed_call_on_the_default_sqlite_file_leaves_no_file_and_names_the_database() {
    let dir = Dir::new();
    let s = schema();
    let input = dir.write("in.ndjson", "{\"id\": 1, \"name\": \"Alice\"}\n");
    // No table exists in a new file: the call fails at its first statement.
    let out = run(&dir, &upsert(&s, &[&input]));
    out.assert_code(1);
    out.assert_stderr(&[
        "bulkinup: error: database error",
        "\ndatabase: sqlite://bulkinup.db\n",
    ]);
    assert!(
        !dir.path().join("bulkinup.db").exists(),
        "the default SQLite file was left behind"
    );
}

#[test]
fn schema_infer_and_check_on_a_mistyped_sqlite_path_create_no_file_and_name_it() {
    let dir = Dir::new();
    let s = schema();
    for args in [
        vec!["schema", "infer", "--database-url", "sqlite://typo.db"],
        vec![
            "schema",
            "check",
            "--schema",
            &s,
            "--database-url",
            "sqlite://typo.db",
        ],
    ] {
        let out = dir.run(&args);
        out.assert_code(1);
        assert_eq!(
            out.stderr,
            "bulkinup: error: cannot connect to sqlite://typo.db: the SQLite file `typo.db` \
             does not exist (it is opened read-only, never created)\n"
        );
        assert!(!dir.path().join("typo.db").exists(), "{args:?}");
    }
}

#[test]
fn a_sqlite_path_in_a_missing_directory_names_the_directory() {
    let dir = Dir::new();
    let s = schema();
    let out = run(
        &dir,
        &upsert(&s, &["--database-url", "sqlite://nodir/x.db", "-"]),
    );
    out.assert_code(1);
    assert_eq!(
        out.stderr,
        "bulkinup: error: cannot connect to sqlite://nodir/x.db: the directory `nodir` of the \
         SQLite file does not exist\nnothing was written\n"
    );
    assert!(!dir.path().join("nodir").exists());
}

#[test]
fn a_usage_error_of_the_parser_has_the_same_prefix_as_ours() {
    let dir = Dir::new();
    let out = dir.run(&["upsert", "--bogus"]);
    out.assert_code(2);
    assert!(
        out.stderr
            .starts_with("bulkinup: error: unexpected argument '--bogus' found"),
        "{}",
        out.stderr
    );
}

#[test]
fn error_is_coloured_when_colour_is_forced_and_plain_under_no_color() {
    let dir = Dir::new();
    let s = schema();
    let args = upsert(&s, &["--database-url", NOWHERE, "missing.ndjson"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut forced = dir.command(&args);
    forced.env("CLICOLOR_FORCE", "1").env_remove("NO_COLOR");
    let out = dir.run_with(forced, None);
    out.assert_code(2);
    assert!(
        out.stderr
            .starts_with("bulkinup: \u{1b}[1m\u{1b}[31merror:\u{1b}[0m input file"),
        "{:?}",
        out.stderr
    );
    let mut plain = dir.command(&args);
    plain.env("CLICOLOR_FORCE", "1").env("NO_COLOR", "1");
    let out = dir.run_with(plain, None);
    assert!(
        out.stderr.starts_with("bulkinup: error: input file"),
        "{:?}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------------------
// Ctrl-C, on every database.

on_every_database!(blog:
    ctrl_c_mid_load_prints_rolled_back_exits_130_and_writes_nothing,
    ctrl_c_on_a_terminal_clears_the_progress_line_then_prints_rolled_back,
    a_regular_file_on_a_terminal_shows_a_bar_with_its_percentage_and_rows_sent,
);

/// `line` run by util-linux `script` on a pseudo-terminal in the test's dir, against its
/// database, without colour; what the terminal showed is the child's standard output.
fn on_a_terminal(t: &TestDb, line: &str, stdin: Stdio) -> std::process::Child {
    std::process::Command::new("script")
        .args(["-qec", line, "/dev/null"])
        .current_dir(t.dir.path())
        .env("DATABASE_URL", &t.url)
        .env("NO_COLOR", "1")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs (it gives the test its pseudo-terminal)")
}

/// A file input on a pseudo-terminal (util-linux `script`, as for Ctrl-C below): the
/// progress line is a bar of the bytes read of the file's size, with its percentage.
async fn a_regular_file_on_a_terminal_shows_a_bar_with_its_percentage_and_rows_sent(t: &TestDb) {
    let s = schema();
    let text: String = (1..=5000)
        .map(|i| format!("{{\"id\": {i}, \"name\": \"author {i}\"}}\n"))
        .collect();
    std::fs::write(t.dir.path().join("authors.ndjson"), &text).expect("write the input");
    let line = format!(
        "{} upsert --schema {s} --root Author --chunk-size 1 authors.ndjson",
        common::BIN
    );
    let child = on_a_terminal(t, &line, Stdio::null());
    let output = wait_with_deadline(child, Duration::from_secs(60));
    let screen = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{screen:?}");
    let size = format!("/{:.2} KiB, ETA ", text.len() as f64 / 1024.0);
    assert!(
        screen.contains(&size),
        "the bar shows the file's size: {screen:?}"
    );
    assert!(
        screen.contains("% ["),
        "the bar shows a percentage: {screen:?}"
    );
    assert!(screen.contains(" rows sent"), "{screen:?}");
    assert!(!screen.contains("written"), "{screen:?}");
    assert!(
        screen.ends_with(
            "\r\u{1b}[2K{\"upserted\":5000,\"skipped\":0,\"rows\":{\"authors\":5000}}\r\n"
        ),
        "the bar is cleared before the summary line: {screen:?}"
    );
    assert_eq!(t.count("authors").await, 5000);
}

/// Ctrl-C typed on a pseudo-terminal: util-linux `script` runs the binary on one, the items
/// and then the `^C` byte are typed into it (the terminal's line discipline turns the byte
/// into SIGINT), and its output is what the terminal showed.
async fn ctrl_c_on_a_terminal_clears_the_progress_line_then_prints_rolled_back(t: &TestDb) {
    let s = schema();
    let line = format!(
        "{} upsert --schema {s} --root Author --chunk-size 1",
        common::BIN
    );
    let mut child = on_a_terminal(t, &line, Stdio::piped());
    let mut keyboard = child.stdin.take().expect("stdin");
    keyboard
        .write_all(b"{\"id\": 1, \"name\": \"a\"}\n{\"id\": 2, \"name\": \"b\"}\n")
        .expect("type the items");
    keyboard.flush().expect("flush");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    keyboard.write_all(b"\x03").expect("type Ctrl-C");
    keyboard.flush().expect("flush");
    let output = wait_with_deadline(child, Duration::from_secs(30));
    drop(keyboard);
    let screen = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(130), "{screen:?}");
    assert!(
        screen.contains("rows sent"),
        "the progress line was shown: {screen:?}"
    );
    assert!(
        screen.ends_with("\r\u{1b}[2Kbulkinup: interrupted: rolled back\r\n"),
        "{screen:?}"
    );
    assert_eq!(t.count("authors").await, 0);
}

async fn ctrl_c_mid_load_prints_rolled_back_exits_130_and_writes_nothing(t: &TestDb) {
    let s = schema();
    let args = upsert(&s, &["--chunk-size", "1"]);
    let mut cmd = t.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the binary starts");
    let mut stdin = child.stdin.take().expect("stdin");
    // Two chunks are written inside the open transaction; the pipe then stays open (a slow
    // input), and the call is interrupted while it waits for more.
    for id in 1..=2 {
        writeln!(stdin, "{{\"id\": {id}, \"name\": \"author {id}\"}}").expect("write an item");
    }
    stdin.flush().expect("flush");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let output = wait_with_deadline(child, Duration::from_secs(30));
    drop(stdin);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.ends_with("bulkinup: interrupted: rolled back\n"),
        "{stderr:?}"
    );
    assert!(output.stdout.is_empty());
    assert_eq!(t.count("authors").await, 0);
}
