//! Two `bulkinup` processes importing overlapping files at once (shared tags), and a call
//! that deadlocks: retried from the start when it reads files — the rejects file written
//! once — or failing with the remedy when it reads standard input.

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};

use common::contention::{close_the_cycle, deadlock_items, hold_tag_2, side_items, victim_url};
use common::{Out, TestDb, finish};
use serde_json::{Value as J, json};

/// What needs row locks: PostgreSQL and MariaDB/MySQL.
mod servers {
    use super::*;
    on_every_database!(@on postgres, Postgres, blog:
        two_concurrent_imports_of_overlapping_files_all_succeed,
        a_deadlocked_import_of_a_file_is_retried_and_writes_each_reject_once,
        a_deadlocked_import_from_stdin_fails_naming_max_concurrency);
    on_every_database!(@on mysql, MySql, blog:
        two_concurrent_imports_of_overlapping_files_all_succeed,
        a_deadlocked_import_of_a_file_is_retried_and_writes_each_reject_once,
        a_deadlocked_import_from_stdin_fails_naming_max_concurrency);
}

/// Items as NDJSON text.
fn ndjson(items: &[J]) -> String {
    items.iter().map(|i| format!("{i}\n")).collect()
}

/// Starts the binary against the test's database, with `stdin` written to its standard input.
fn start(t: &TestDb, args: &[&str], stdin: &str) -> Child {
    start_at(t, &t.url, args, stdin)
}

/// Starts the binary against `url` (one of the test's database), with `stdin` written to its
/// standard input.
fn start_at(t: &TestDb, url: &str, args: &[&str], stdin: &str) -> Child {
    let mut cmd: Command = t.command(args);
    cmd.env("DATABASE_URL", url);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the binary starts");
    let mut pipe = child.stdin.take().expect("stdin");
    pipe.write_all(stdin.as_bytes()).expect("write stdin");
    drop(pipe);
    child
}

fn schema() -> String {
    common::blog_schema().display().to_string()
}

async fn two_concurrent_imports_of_overlapping_files_all_succeed(t: &TestDb) {
    let schema = schema();
    let mut retried = 0;
    for round in 0..20 {
        let files: Vec<String> = (0..2)
            .map(|side| {
                t.dir.write(
                    &format!("r{round}s{side}.ndjson"),
                    &ndjson(&side_items(side, round)),
                )
            })
            .collect();
        let args = |file: &str| {
            [
                "upsert",
                "--schema",
                &schema,
                "--root",
                "Author",
                "--chunk-size",
                "10",
                file,
            ]
            .map(str::to_string)
        };
        let children: Vec<Child> = files
            .iter()
            .map(|f| {
                let a = args(f);
                let a: Vec<&str> = a.iter().map(String::as_str).collect();
                start(t, &a, "")
            })
            .collect();
        for (side, child) in children.into_iter().enumerate() {
            let out = finish(child).await;
            out.assert_code(0);
            assert_eq!(
                out.json()["upserted"],
                json!(40),
                "round {round} side {side}"
            );
            retried += out.stderr.matches("reading the input again").count();
        }
    }
    eprintln!("{:?}: {retried} retries in 40 runs", t.kind);
    assert_eq!(t.count("authors").await, 20 * 2 * 40);
    assert_eq!(t.count("posts_tags").await, 20 * 2 * 40 * 10);
    assert_eq!(t.count("tags").await, 40);
}

/// An upsert of the deadlock items with `--rejects rejects.ndjson`, from the file `input` or
/// else from standard input, that a holder deadlocks once it has started.
async fn deadlocked_run(t: &TestDb, input: Option<&str>) -> Out {
    let holder = hold_tag_2(t).await;
    let schema = schema();
    let items = ndjson(&deadlock_items());
    let mut args = vec![
        "upsert",
        "--schema",
        &schema,
        "--root",
        "Author",
        "--rejects",
        "rejects.ndjson",
    ];
    let stdin = match input {
        Some(file) => {
            t.dir.write(file, &items);
            args.push(file);
            ""
        }
        None => &items,
    };
    let child = start_at(t, &victim_url(t), &args, stdin);
    close_the_cycle(t, holder).await;
    finish(child).await
}

async fn a_deadlocked_import_of_a_file_is_retried_and_writes_each_reject_once(t: &TestDb) {
    let out = deadlocked_run(t, Some("in.ndjson")).await;
    out.assert_code(0)
        .assert_stderr(&["reading the input again (attempt 2 of 4)"]);
    let summary = out.json();
    assert_eq!(
        (&summary["upserted"], &summary["skipped"]),
        (&json!(1), &json!(1))
    );
    let rejects: Vec<J> = t
        .dir
        .read("rejects.ndjson")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert_eq!(
        (rejects[0]["line"].clone(), rejects[0]["item"].clone()),
        (json!(2), json!({"id": 2}))
    );
    assert_eq!(
        t.column("SELECT name FROM tags ORDER BY id").await,
        vec![json!("one"), json!("two")]
    );
    assert_eq!(t.count("authors").await, 1);
}

async fn a_deadlocked_import_from_stdin_fails_naming_max_concurrency(t: &TestDb) {
    let out = deadlocked_run(t, None).await;
    out.assert_code(1).assert_stderr(&[
        "another writer held the same rows at the same time",
        "not retried: the input cannot be read again",
        "--max-concurrency",
        "rolled back",
    ]);
    assert_eq!(out.stdout, "");
    assert_eq!(t.count("authors").await, 0);
    // The invalid item read before the failure is kept, once.
    assert_eq!(t.dir.read("rejects.ndjson").lines().count(), 1);
}
