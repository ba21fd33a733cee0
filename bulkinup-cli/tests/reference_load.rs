//! The reference-size load through the command line with default flags, on SQLite, PostgreSQL
//! and MariaDB/MySQL: the workload of BENCHMARKS.md ("The workload") — 20,000 blog authors,
//! each with a profile, an address embed, 2 social links and 5 posts, each post with 4
//! comments and 3 tags from a pool of 1,000, 841,000 rows, 58 MB of NDJSON — written
//! into the test's dir and loaded by `bulkinup upsert --schema examples/blog/schema.toml
//! --root Author FILE`, with no other flag, into fresh blog tables holding the 10 categories
//! the posts point at. It must exit 0, print the summary of every row, and leave every row in
//! the database: a default that bounds the whole call (the CLI once stopped such loads after
//! 15 s) fails it.
//!
//! The items come from the benchmark's own generator (`bulkinup-bench/src/workload.rs`,
//! compiled into this test from its source, so the two cannot drift apart; its few unit tests
//! run here too).
//!
//! The tests are `#[ignore]`d: a debug build takes minutes per database. `.ci/run` runs them
//! in release, one at a time:
//!
//! ```sh
//! BULKINUP_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test \
//! BULKINUP_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test \
//! cargo test --release -p bulkinup-cli --test reference_load -- --ignored --test-threads 1
//! ```
//!
//! Add `--nocapture` to see each load's wall time and input size on standard error.

mod common;

#[path = "../../bulkinup-bench/src/workload.rs"]
#[allow(dead_code)] // the baselines' flattened rows are not used here
mod workload;

use std::io::{BufWriter, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Kind, Out, TestDb, blog_schema, upsert_authors, wait_with_deadline};
use serde_json::json;
use workload::{CATEGORIES, Workload};

/// The reference size: 20,000 top-level items.
const AUTHORS: u64 = 20_000;

/// The longest one load may take before the test kills it and fails: generous for a debug
/// build on a loaded machine (a release build takes seconds to a minute).
const LOAD_LIMIT: Duration = Duration::from_secs(30 * 60);

mod sqlite {
    #[tokio::test]
    #[ignore = "minutes in a debug build: run in release with --ignored (see the file's doc)"]
    async fn the_reference_size_load_succeeds_with_default_flags() {
        super::reference_load(super::Kind::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test]
    #[ignore = "minutes in a debug build: run in release with --ignored (see the file's doc)"]
    async fn the_reference_size_load_succeeds_with_default_flags() {
        super::reference_load(super::Kind::Postgres).await;
    }
}

mod mysql {
    #[tokio::test]
    #[ignore = "minutes in a debug build: run in release with --ignored (see the file's doc)"]
    async fn the_reference_size_load_succeeds_with_default_flags() {
        super::reference_load(super::Kind::MySql).await;
    }
}

/// Fresh blog tables with the categories, the workload as NDJSON, one run of the binary with
/// default flags, then its exit status, its summary and every table's rows.
async fn reference_load(kind: Kind) {
    let Some(t) = TestDb::blog(kind).await else {
        return;
    };
    seed_categories(&t).await;
    let (input, bytes) = write_workload(&t, "authors.ndjson");

    let schema = blog_schema().display().to_string();
    let start = Instant::now();
    let out = run_long(&t, &upsert_authors(&schema, &[&input]));
    let elapsed = start.elapsed();
    eprintln!(
        "{kind:?}: {AUTHORS} authors, {bytes} bytes of NDJSON loaded in {:.1} s",
        elapsed.as_secs_f64()
    );

    out.assert_code(0);
    assert_eq!(
        out.json(),
        json!({
            "upserted": 20_000,
            "skipped": 0,
            "rows": {
                "authors": 20_000,
                "profiles": 20_000,
                "posts": 100_000,
                "comments": 400_000,
                "tags": 1_000,
                "posts_tags": 300_000,
            },
        })
    );
    for (table, rows) in [
        ("categories", 10),
        ("authors", 20_000),
        ("profiles", 20_000),
        ("posts", 100_000),
        ("comments", 400_000),
        ("tags", 1_000),
        ("posts_tags", 300_000),
    ] {
        assert_eq!(t.count(table).await, rows, "rows of {table}");
    }
    t.cleanup().await;
}

/// The categories the posts point at (`category_id` 1 to 10), seeded before the load as the
/// benchmark does.
async fn seed_categories(t: &TestDb) {
    let values: Vec<String> = (1..=CATEGORIES)
        .map(|c| format!("({c}, 'Category {c}')"))
        .collect();
    t.db.execute_script(&format!(
        "INSERT INTO categories (id, name) VALUES {}",
        values.join(", ")
    ))
    .await
    .expect("seed the categories");
}

/// Writes the reference workload as NDJSON into the test's dir; returns the file's name
/// (relative to the dir) and its size in bytes.
fn write_workload(t: &TestDb, name: &str) -> (String, u64) {
    let path = t.dir.path().join(name);
    let file = std::fs::File::create(&path).expect("create the input file");
    let mut w = BufWriter::new(file);
    for item in (Workload { authors: AUTHORS }).items() {
        serde_json::to_writer(&mut w, &item).expect("write an item");
        w.write_all(b"\n").expect("write a newline");
    }
    w.flush().expect("flush the input file");
    let bytes = std::fs::metadata(&path).expect("the input file").len();
    (name.to_string(), bytes)
}

/// Runs the binary against the test's database like `TestDb::run`, but with [`LOAD_LIMIT`]
/// instead of the harness's limit for short runs.
fn run_long(t: &TestDb, args: &[&str]) -> Out {
    let mut cmd = t.command(args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("the binary starts");
    let output = wait_with_deadline(child, LOAD_LIMIT);
    Out {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
