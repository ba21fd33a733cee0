//! `--max-concurrency`: a call whose later chunk the database refuses says what it committed —
//! in words on standard error, as one JSON line on standard output — and those are exactly
//! the chunks whose rows are in the database; Ctrl-C says what had committed by then. On
//! SQLite, PostgreSQL and MySQL/MariaDB.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::{TestDb, upsert_authors, wait_with_deadline};
use serde_json::{Value as J, json};

on_every_database!(blog:
    a_refused_chunk_prints_the_lines_committed_before_it_on_both_outputs,
    concurrent_chunks_print_exactly_the_lines_whose_rows_are_in_the_database,
    several_inputs_name_the_file_of_each_committed_range,
    a_json_array_input_reports_elements,
    ctrl_c_with_max_concurrency_prints_the_lines_committed,
);

/// Author `id` as an NDJSON line; with `bad`, one post whose author does not exist (a
/// foreign-key violation).
fn author(id: i64, bad: bool) -> String {
    let item = match bad {
        true => {
            json!({"id": id, "name": "A", "posts": [{"id": id, "author_id": 999, "title": "x"}]})
        }
        false => json!({"id": id, "name": "A"}),
    };
    format!("{item}\n")
}

/// Authors 1..=n, one a line (author `i` on line `i`), author `bad` refused.
fn authors(n: i64, bad: i64) -> String {
    (1..=n).map(|i| author(i, i == bad)).collect()
}

fn schema() -> String {
    common::blog_schema().display().to_string()
}

/// The authors' ids in the database, as merged `[first, last]` pairs.
async fn ids_in_the_database(t: &TestDb) -> J {
    let ids = t.column("SELECT id FROM authors ORDER BY id").await;
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for id in ids.iter().map(|v| v.as_u64().expect("an id")) {
        match ranges.last_mut() {
            Some(r) if r.1 + 1 == id => r.1 = id,
            _ => ranges.push((id, id)),
        }
    }
    json!(
        ranges
            .iter()
            .map(|(a, b)| json!([a, b]))
            .collect::<Vec<_>>()
    )
}

async fn a_refused_chunk_prints_the_lines_committed_before_it_on_both_outputs(t: &TestDb) {
    let s = schema();
    let input = t.dir.write("feed.ndjson", &authors(10, 5));
    // One chunk at a time: lines 1-4 commit, the chunk of lines 5-6 is refused.
    let args = ["--chunk-size", "2", "--max-concurrency", "1", &input];
    let out = t.run(&upsert_authors(&s, &args));
    out.assert_code(1).assert_stderr(&[
        "database error writing table `posts`",
        "(a referenced row is missing)",
        "\ncommitted: lines 1-4 of `feed.ndjson`; the rest was rolled back or not read\n",
    ]);
    assert!(
        !out.stderr
            .contains("chunks committed before it stay written")
    );
    let line = out.json();
    assert_eq!(line["committed"], json!([[1, 4]]));
    let error = line["error"].as_str().expect("a message");
    assert!(
        error.starts_with("database error writing table `posts`"),
        "{error}"
    );
    assert!(out.stderr.contains(error), "{:?}", out.stderr);
    assert!(out.stdout.starts_with("{\"error\":"), "{:?}", out.stdout);
    assert_eq!(line.as_object().map(|o| o.len()), Some(2));
    assert_eq!(ids_in_the_database(t).await, json!([[1, 4]]));

    // Resuming with the rest (the refused item fixed) completes the input.
    let rest: String = (5..=10).map(|i| author(i, false)).collect();
    let rest = t.dir.write("rest.ndjson", &rest);
    t.run(&upsert_authors(&s, &["--max-concurrency", "1", &rest]))
        .assert_code(0);
    assert_eq!(ids_in_the_database(t).await, json!([[1, 10]]));
}

async fn concurrent_chunks_print_exactly_the_lines_whose_rows_are_in_the_database(t: &TestDb) {
    let s = schema();
    let input = t.dir.write("feed.ndjson", &authors(40, 20));
    for round in 0..3 {
        t.empty_blog_tables().await;
        let args = ["--chunk-size", "4", "--max-concurrency", "3", &input];
        let out = t.run(&upsert_authors(&s, &args));
        out.assert_code(1);
        let committed = out.json()["committed"].clone();
        assert_eq!(
            ids_in_the_database(t).await,
            committed,
            "round {round}: {}",
            out.stderr
        );
        // Whole chunks, never the refused one (lines 17-20).
        for pair in committed.as_array().expect("a list") {
            let (first, last) = (pair[0].as_u64().unwrap_or(0), pair[1].as_u64().unwrap_or(0));
            assert_eq!((first % 4, last % 4), (1, 0), "{committed}");
            assert!(last < 17 || first > 20, "{committed}");
        }
    }
}

async fn several_inputs_name_the_file_of_each_committed_range(t: &TestDb) {
    let s = schema();
    let a = t.dir.write("a.ndjson", &authors(3, 0));
    let b: String = (4..=6).map(|i| author(i, i == 6)).collect();
    let b = t.dir.write("b.ndjson", &b);
    // Chunks [a:1 a:2] [a:3 b:1] [b:2 b:3]: the last is refused.
    let args = ["--chunk-size", "2", "--max-concurrency", "1", &a, &b];
    let out = t.run(&upsert_authors(&s, &args));
    out.assert_code(1).assert_stderr(&[
        "\ncommitted: lines 1-3 of `a.ndjson`, line 1 of `b.ndjson`; the rest was rolled back or not read\n",
    ]);
    assert_eq!(
        out.json()["committed"],
        json!([
            {"file": "a.ndjson", "lines": [[1, 3]]},
            {"file": "b.ndjson", "lines": [[1, 1]]}
        ])
    );
    assert_eq!(ids_in_the_database(t).await, json!([[1, 4]]));
}

async fn a_json_array_input_reports_elements(t: &TestDb) {
    let s = schema();
    let items: Vec<J> = authors(5, 5)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let input = t.dir.write("feed.json", &J::Array(items).to_string());
    let args = ["--chunk-size", "2", "--max-concurrency", "1", &input];
    let out = t.run(&upsert_authors(&s, &args));
    out.assert_code(1).assert_stderr(&[
        "\ncommitted: elements 1-4 of `feed.json`; the rest was rolled back or not read\n",
    ]);
    assert_eq!(out.json()["committed"], json!([[1, 4]]));
    assert_eq!(ids_in_the_database(t).await, json!([[1, 4]]));
}

async fn ctrl_c_with_max_concurrency_prints_the_lines_committed(t: &TestDb) {
    let s = schema();
    let args = upsert_authors(&s, &["--chunk-size", "1", "--max-concurrency", "2"]);
    let mut cmd = t.command(&args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the binary starts");
    let mut stdin = child.stdin.take().expect("stdin");
    // Two chunks commit; the pipe then stays open (a slow input), and the call is
    // interrupted while it waits for more.
    stdin
        .write_all(authors(2, 0).as_bytes())
        .expect("write the items");
    stdin.flush().expect("flush");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while t.count("authors").await < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Time for the tasks to hand over what they committed after the database has it.
    tokio::time::sleep(Duration::from_millis(500)).await;
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
        stderr.ends_with(
            "bulkinup: interrupted: the chunks being written were rolled back; chunks committed before stay written\n\
             committed: lines 1-2 of standard input; the rest was rolled back or not read \
             (a chunk whose commit was under way when interrupted may have committed too)\n"
        ),
        "{stderr:?}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line: J = serde_json::from_str(stdout.trim_end()).expect("one JSON line");
    assert_eq!(line, json!({"error": "interrupted", "committed": [[1, 2]]}));
    assert_eq!(ids_in_the_database(t).await, json!([[1, 2]]));
}
