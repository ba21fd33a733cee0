//! `--max-item-bytes N` (schema file: `max_item_bytes`): an NDJSON line or JSON-array element
//! longer than N bytes is malformed input — exit 3, rolled back, naming the file and line (and
//! the element) — found without buffering more than about N: a line that never ends, written
//! forever into standard input, ends the run in bounded memory. An item of exactly N bytes
//! loads. On every database (the reader is the same, the rollback is each database's).

mod common;

use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Dir, TestDb, blog_schema};
use serde_json::json;

on_every_database!(blog:
    an_endless_line_on_stdin_exits_3_in_bounded_memory_and_writes_nothing,
    an_array_element_longer_than_the_limit_exits_3_naming_the_file_and_the_element,
    items_of_exactly_the_limit_load_from_ndjson_and_from_an_array,
    the_schema_file_key_applies_and_the_flag_overrides_it,
);

fn schema() -> String {
    blog_schema().display().to_string()
}

/// The `upsert` arguments of the blog's authors with `--max-item-bytes limit`, then `inputs`.
fn upsert_args(schema: &str, limit: &str, inputs: &[&str]) -> Vec<String> {
    let mut args = vec!["upsert", "--schema", schema, "--root", "Author"];
    if !limit.is_empty() {
        args.extend(["--max-item-bytes", limit]);
    }
    args.extend(inputs);
    args.into_iter().map(String::from).collect()
}

/// Runs `upsert_args` against the test's database.
fn upsert(t: &TestDb, limit: &str, inputs: &[&str]) -> common::Out {
    let args = upsert_args(&schema(), limit, inputs);
    t.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// An author whose whole NDJSON line is exactly `n` bytes (its address's street pads it).
fn author_of_len(id: u64, n: usize) -> String {
    let bare = |street: &str| {
        json!({"id": id, "name": "Big", "address": {"street": street, "city": "X"}}).to_string()
    };
    let pad = n - bare("").len();
    let line = bare(&"s".repeat(pad));
    assert_eq!(line.len(), n);
    line
}

/// The peak resident memory (`VmHWM`) of a running process, in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

async fn an_endless_line_on_stdin_exits_3_in_bounded_memory_and_writes_nothing(t: &TestDb) {
    const LIMIT: u64 = 32 << 20;
    const WRITER_CAP: u64 = 16 * LIMIT;
    let args = upsert_args(&schema(), "32MiB", &[]);
    let mut cmd = t.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the binary starts");
    let pid = child.id();
    let mut pipe = child.stdin.take().expect("stdin");
    // One valid author, then a line that does not end: `x` until the pipe closes — or, so
    // that a reader without a limit cannot take the machine's memory, until 16 times the
    // limit (then the pipe is closed, and the test fails below).
    let written = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&written);
    let writer = std::thread::spawn(move || {
        if pipe
            .write_all(b"{\"id\": 1, \"name\": \"Alice\"}\n")
            .is_err()
        {
            return;
        }
        let block = vec![b'x'; 64 * 1024];
        while count.load(Ordering::Relaxed) < WRITER_CAP && pipe.write_all(&block).is_ok() {
            count.fetch_add(block.len() as u64, Ordering::Relaxed);
        }
    });
    // Sample the peak memory while it runs (VmHWM is a high-water mark: the last sample
    // holds every earlier peak).
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        let started = Instant::now();
        while let Some(rss) = peak_rss(pid) {
            peak = peak.max(rss);
            if started.elapsed() > common::RUN_LIMIT {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        peak
    });
    let output = common::wait_with_deadline(child, common::RUN_LIMIT);
    writer.join().expect("the writer thread");
    let peak = sampler.join().expect("the sampler thread");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let written = written.load(Ordering::Relaxed);
    eprintln!(
        "{:?}: exit {:?} after {} MiB written; peak RSS {} MiB",
        t.kind,
        output.status.code(),
        written >> 20,
        peak >> 20
    );
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(
            "malformed input in `-` line 2: line is longer than 33554432 bytes, the item limit (`--max-item-bytes`"
        ),
        "{stderr}"
    );
    assert!(written >= LIMIT, "the line passed the limit: {written}");
    assert!(
        written < WRITER_CAP,
        "the binary stopped reading on its own, while the line went on"
    );
    // The line's bytes (32 MiB) on top of the process's own (a few tens of MiB, debug build):
    // never twice the limit, as a buffer grown by doubling would take.
    assert!(peak > 0, "the peak memory was read");
    assert!(peak < LIMIT + (64 << 20), "peak RSS {peak} bytes");
    assert_eq!(t.count("authors").await, 0, "rolled back");
}

async fn an_array_element_longer_than_the_limit_exits_3_naming_the_file_and_the_element(
    t: &TestDb,
) {
    let big = author_of_len(2, 1025);
    let input = t.dir.write(
        "in.json",
        &format!("[\n  {{\"id\": 1, \"name\": \"Alice\"}},\n  {big}\n]\n"),
    );
    let out = upsert(t, "1KiB", &[&input]);
    out.assert_code(3).assert_stderr(&[
        "malformed input in `in.json` line 3: array element 2 is longer than 1024 bytes",
        "rolled back",
    ]);
    assert_eq!(t.count("authors").await, 0, "rolled back");
}

async fn items_of_exactly_the_limit_load_from_ndjson_and_from_an_array(t: &TestDb) {
    let n = 1 << 20;
    let ndjson = t.dir.write(
        "in.ndjson",
        &format!("{}\n{}", author_of_len(1, n), author_of_len(2, n - 1)),
    );
    let array = t.dir.write(
        "in.json",
        &format!("[{},\n{}]", author_of_len(3, n), author_of_len(4, n)),
    );
    let out = upsert(t, "1MiB", &[&ndjson, &array]);
    out.assert_code(0);
    assert_eq!(out.json()["upserted"], json!(4));
    let rows = t.rows("SELECT id, address FROM authors ORDER BY id").await;
    let ids: Vec<_> = rows.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids, [json!(1), json!(2), json!(3), json!(4)]);
    let street = rows[0]["address"]["street"].as_str().map(str::len);
    assert!(street > Some(n - 100), "{street:?}");

    // One byte more is too long.
    let over = t
        .dir
        .write("over.ndjson", &format!("{}\n", author_of_len(5, n + 1)));
    let out = upsert(t, "1048576", &[&over]);
    out.assert_code(3)
        .assert_stderr(&["`over.ndjson` line 1: line is longer than 1048576 bytes"]);
    assert_eq!(t.count("authors").await, 4);
}

async fn the_schema_file_key_applies_and_the_flag_overrides_it(t: &TestDb) {
    let blog = std::fs::read_to_string(blog_schema()).expect("the blog schema");
    let file = t.dir.write(
        "small.toml",
        &format!("{blog}\n[options]\nmax_item_bytes = \"100 B\"\n"),
    );
    let input = t
        .dir
        .write("in.ndjson", &format!("{}\n", author_of_len(1, 200)));
    let run = |limit: &str| {
        let args = upsert_args(&file, limit, &[&input]);
        t.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    run("").assert_code(3).assert_stderr(&[
        "`in.ndjson` line 1: line is longer than 100 bytes",
        "rolled back",
    ]);
    assert_eq!(t.count("authors").await, 0);
    run("0.2kb").assert_code(0);
    assert_eq!(t.count("authors").await, 1);
}

#[test]
fn a_limit_that_is_not_a_positive_size_is_refused_with_exit_2_naming_the_flag_or_the_key() {
    let dir = Dir::new();
    let input = dir.write("in.ndjson", "{\"id\": 1, \"name\": \"Alice\"}\n");
    let url = "postgres://user@127.0.0.1:1/x"; // never reached
    let run = |schema: &str, limit: &str| {
        let args = upsert_args(schema, limit, &[&input]);
        let mut cmd = dir.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
        cmd.env("DATABASE_URL", url);
        dir.run_with(cmd, None)
    };
    for bad in ["0", "-1", "lots", "3 parsecs", "99999999999999999999"] {
        run(&schema(), bad)
            .assert_code(2)
            .assert_stderr(&["`--max-item-bytes`", "a number of bytes ≥ 1"]);
    }
    let blog = std::fs::read_to_string(blog_schema()).expect("the blog schema");
    for (bad, says) in [
        ("0", "must be at least 1 byte"),
        ("true", "expected a number of bytes"),
        ("\"64 furlongs\"", "is not a size in bytes"),
    ] {
        let file = dir.write(
            "bad.toml",
            &format!("{blog}\n[options]\nmax_item_bytes = {bad}\n"),
        );
        run(&file, "")
            .assert_code(2)
            .assert_stderr(&["options.max_item_bytes", "bad.toml:", says]);
    }
}
