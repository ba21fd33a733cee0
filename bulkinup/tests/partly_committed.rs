//! `max_concurrency`: a call whose later chunk the database refuses fails with
//! `Error::PartlyCommitted`, whose input ranges are exactly the chunks whose rows are in the
//! database; `on_committed` hears each committed chunk. On SQLite, PostgreSQL and
//! MySQL/MariaDB.

mod common;

use std::sync::{Arc, Mutex};

use bulkinup::input::{self, Source};
use bulkinup::{DbErrorKind, Error, InputRange, Numbering, Options};
use common::TestDb;
use serde_json::{Value as J, json};

on_every_database!(blog:
    a_failing_chunk_reports_exactly_the_chunks_committed_before_it,
    concurrent_chunks_report_exactly_the_chunks_whose_rows_are_in_the_database,
    ranges_name_lines_of_each_input_file_and_split_a_chunk_across_two_files,
    a_call_that_commits_nothing_says_so,
);

/// Author `id`; with `bad`, one post whose author does not exist (a foreign-key violation).
fn author(id: i64, bad: bool) -> J {
    match bad {
        true => {
            json!({"id": id, "name": "A", "posts": [{"id": id, "author_id": 999, "title": "x"}]})
        }
        false => json!({"id": id, "name": "A"}),
    }
}

/// Authors 1..=n (item `i` is author `i`), author `bad` refused by the database.
fn authors(n: i64, bad: i64) -> Vec<J> {
    (1..=n).map(|i| author(i, i == bad)).collect()
}

/// Item positions `first..=last` of an iterator's items.
fn items(first: u64, last: u64) -> InputRange {
    InputRange {
        file: None,
        numbering: Numbering::Items,
        first,
        last,
    }
}

/// The error of an upsert of `items` that must fail with `PartlyCommitted`, and what
/// `on_committed` last heard.
async fn failing(
    t: &TestDb,
    items: Vec<J>,
    opts: Options,
) -> (Vec<InputRange>, Box<Error>, Vec<InputRange>) {
    let heard: Arc<Mutex<Vec<InputRange>>> = Arc::default();
    let sink = Arc::clone(&heard);
    let opts = opts.on_committed(move |c| {
        c.so_far.clone_into(&mut sink.lock().expect("lock"));
    });
    let err = bulkinup::upsert(&t.db, &common::blog(), "Author", items, &opts)
        .await
        .expect_err("the call fails");
    let heard = heard.lock().expect("lock").clone();
    match err {
        Error::PartlyCommitted { committed, source } => (committed, source, heard),
        other => panic!("not PartlyCommitted: {other:?}"),
    }
}

/// The ids in `authors`, as merged ranges of positions (author `i` is item `i`).
async fn committed_in_the_database(t: &TestDb) -> Vec<InputRange> {
    let ids = t.column("SELECT id FROM authors ORDER BY id").await;
    let mut ranges: Vec<InputRange> = Vec::new();
    for id in ids.iter().map(|v| v.as_u64().expect("an id")) {
        match ranges.last_mut() {
            Some(r) if r.last + 1 == id => r.last = id,
            _ => ranges.push(items(id, id)),
        }
    }
    ranges
}

async fn a_failing_chunk_reports_exactly_the_chunks_committed_before_it(t: &TestDb) {
    // One chunk at a time: chunks 1 and 2 (items 1-4) commit, chunk 3 (5-6) is refused, the
    // rest is not read.
    let opts = Options::default().chunk_size(2).max_concurrency(1);
    let (committed, source, heard) = failing(t, authors(10, 5), opts).await;
    assert_eq!(committed, [items(1, 4)]);
    assert_eq!(heard, committed);
    assert_eq!(
        (source.table(), source.db_kind()),
        (Some("posts"), Some(DbErrorKind::ForeignKeyViolation))
    );
    assert_eq!(committed_in_the_database(t).await, committed);
    assert_eq!(t.count("posts").await, 0);
}

async fn concurrent_chunks_report_exactly_the_chunks_whose_rows_are_in_the_database(t: &TestDb) {
    // Chunks in flight beside the refused one (chunk 5 of 10) may commit before or after
    // it: whatever committed is reported, and nothing else.
    for round in 0..5 {
        t.empty_blog_tables().await;
        let opts = Options::default().chunk_size(3).max_concurrency(3);
        let (committed, source, heard) = failing(t, authors(30, 14), opts).await;
        assert_eq!(source.db_kind(), Some(DbErrorKind::ForeignKeyViolation));
        assert_eq!(
            committed_in_the_database(t).await,
            committed,
            "round {round}"
        );
        assert_eq!(heard, committed, "round {round}");
        // Whole chunks only, never the refused one (items 13-15).
        for r in &committed {
            assert_eq!((r.first % 3, r.last % 3), (1, 0), "{committed:?}");
            assert!(r.last < 13 || r.first > 15, "{committed:?}");
        }
        // Chunk 5 is read once two of the first four have committed.
        let n: u64 = committed.iter().map(|r| r.last - r.first + 1).sum();
        assert!(n >= 6, "{committed:?}");
    }
}

async fn ranges_name_lines_of_each_input_file_and_split_a_chunk_across_two_files(t: &TestDb) {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, lines: &[J]| {
        let path = dir.path().join(name);
        let text: String = lines.iter().map(|l| format!("{l}\n\n")).collect();
        std::fs::write(&path, text).expect("write an input");
        path
    };
    // Blank lines between items: item k of a file is on line 2k - 1.
    let a = write(
        "a.ndjson",
        &[author(1, false), author(2, false), author(3, false)],
    );
    let b = write(
        "b.ndjson",
        &[author(4, false), author(5, false), author(6, true)],
    );
    let stream = input::stream(
        vec![Source::File(a.clone()), Source::File(b.clone())],
        1 << 20,
    )
    .expect("the inputs open");
    // Chunks [a1 a2] [a3 b1] [b2 b3]: the last is refused.
    let opts = Options::default().chunk_size(2).max_concurrency(1);
    let err = bulkinup::write_stream(
        &t.db,
        &common::blog(),
        "Author",
        bulkinup::Verb::Upsert,
        stream,
        &opts,
    )
    .await
    .expect_err("the call fails");
    let lines = |path: &std::path::Path, first, last| InputRange {
        file: Some(path.display().to_string().into()),
        numbering: Numbering::Lines,
        first,
        last,
    };
    assert_eq!(
        err.committed().expect("PartlyCommitted"),
        [lines(&a, 1, 5), lines(&b, 1, 1)]
    );
    assert_eq!(
        t.column("SELECT id FROM authors ORDER BY id").await,
        vec![json!(1), json!(2), json!(3), json!(4)]
    );
    assert!(
        err.to_string().ends_with(&format!(
            "; committed: lines 1-5 of `{}`, line 1 of `{}`; the rest was rolled back or not read",
            a.display(),
            b.display()
        )),
        "{err}"
    );
    assert_eq!(err.exit_code(), 1);
}

async fn a_call_that_commits_nothing_says_so(t: &TestDb) {
    let opts = Options::default().chunk_size(2).max_concurrency(1);
    let (committed, _, heard) = failing(t, authors(4, 1), opts.clone()).await;
    assert!(committed.is_empty() && heard.is_empty());
    assert_eq!(t.count("authors").await, 0);
    let err = bulkinup::upsert(&t.db, &common::blog(), "Author", authors(4, 2), &opts)
        .await
        .expect_err("the call fails");
    assert!(
        err.to_string().ends_with("; nothing was committed"),
        "{err}"
    );
}
