//! Skipped items are reported once per call (README, "What one call does") — one warning with the count and the
//! first 50 primary keys — however many chunks they span; progress reports count the bytes
//! the input reader consumed and say rows are committed only once they are; on every
//! database.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use bulkinup::input::{Source, stream_with_progress};
use bulkinup::{MaxSkipped, Options, Summary, Verb};
use common::TestDb;
use serde_json::{Value as J, json};

on_every_database!(blog:
    skipped_items_are_reported_in_one_warning_per_call,
    the_bytes_read_reach_the_input_size_and_rows_are_committed_only_after_the_commit,
    a_rolled_back_call_never_reports_rows_committed,
    with_max_concurrency_every_report_counts_committed_rows,
);

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn skipped_items_are_reported_in_one_warning_per_call(t: &TestDb) {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // 60 invalid items (no name) across 7 chunks of 10, then 5 valid ones.
    let mut items: Vec<J> = (1..=60).map(|i| json!({"id": i})).collect();
    items.extend((61..=65).map(|i| json!({"id": i, "name": "ok"})));
    let s = bulkinup::upsert(
        &t.db,
        &common::blog(),
        "Author",
        items,
        &Options::default().chunk_size(10),
    )
    .await
    .unwrap();
    assert_eq!((s.written, s.skipped), (5, 60));
    assert_eq!(t.count("authors").await, 5);

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{text}");
    assert!(
        warnings[0]
            .contains("upsert Author: skipped 60 of 65 items as invalid; first 50 primary keys"),
        "{}",
        warnings[0]
    );
    let first_50 = format!(
        "[{}]",
        (1..=50)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(warnings[0].contains(&first_50), "{}", warnings[0]);
    assert!(!warnings[0].contains(",51"), "{}", warnings[0]);
}

/// One progress report: whether its rows are committed, the rows, and the bytes read then.
type Report = (bool, u64, u64);

/// Writes `n` authors from an NDJSON file (one item in five invalid when `invalid`), with
/// `options` and a handler recording each progress report: the reports, the input's size,
/// the bytes read at the end and the total the reader measured, and the call's result.
async fn write_file(
    t: &TestDb,
    n: u64,
    invalid: bool,
    options: Options,
) -> (
    Vec<Report>,
    u64,
    (u64, Option<u64>),
    bulkinup::Result<Summary>,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authors.ndjson");
    let mut text = String::new();
    for i in 1..=n {
        let item = match invalid && i % 5 == 0 {
            true => json!({"id": i}),
            false => json!({"id": i, "name": format!("author {i}")}),
        };
        text.push_str(&format!("{item}\n"));
    }
    std::fs::write(&path, &text).unwrap();
    let (items, progress) = stream_with_progress(vec![Source::File(path)], 1 << 20).unwrap();
    let reports: Arc<Mutex<Vec<Report>>> = Arc::default();
    let (seen, reader) = (Arc::clone(&reports), progress.clone());
    let options = options.on_progress(move |s| {
        let rows = s.rows.values().sum();
        seen.lock()
            .unwrap()
            .push((s.committed, rows, reader.bytes_read()));
    });
    let result = bulkinup::write_stream(
        &t.db,
        &common::blog(),
        "Author",
        Verb::Upsert,
        items,
        &options,
    )
    .await;
    let reports = reports.lock().unwrap().clone();
    let read = (progress.bytes_read(), progress.total_bytes());
    (reports, text.len() as u64, read, result)
}

async fn the_bytes_read_reach_the_input_size_and_rows_are_committed_only_after_the_commit(
    t: &TestDb,
) {
    let (reports, size, (read, total), result) =
        write_file(t, 50, false, Options::default().chunk_size(10)).await;
    let summary = result.unwrap();
    assert_eq!(total, Some(size));
    assert_eq!(read, size);
    assert!(summary.committed);
    assert_eq!(t.count("authors").await, 50);
    // One report per chunk, rows sent; then one after the commit, the same rows committed.
    let (last, sent) = reports.split_last().unwrap();
    assert_eq!(sent.len(), 5, "{reports:?}");
    assert!(sent.iter().all(|(committed, ..)| !committed), "{reports:?}");
    assert_eq!(
        sent.iter().map(|r| r.1).collect::<Vec<_>>(),
        [10, 20, 30, 40, 50]
    );
    assert!(sent.windows(2).all(|w| w[0].2 <= w[1].2), "{reports:?}");
    assert_eq!(*last, (true, 50, size));
}

async fn a_rolled_back_call_never_reports_rows_committed(t: &TestDb) {
    // 10 of 50 items are invalid: more than 5 %, found at the end, before the commit.
    let options = Options::default()
        .chunk_size(10)
        .max_skipped(MaxSkipped::Percent(5.0));
    let (reports, size, (read, _), result) = write_file(t, 50, true, options).await;
    assert!(
        matches!(result, Err(bulkinup::Error::TooManyInvalid { .. })),
        "{result:?}"
    );
    assert_eq!(read, size);
    assert_eq!(reports.len(), 5, "{reports:?}");
    assert!(
        reports.iter().all(|(committed, ..)| !committed),
        "{reports:?}"
    );
    assert_eq!(t.count("authors").await, 0);
}

async fn with_max_concurrency_every_report_counts_committed_rows(t: &TestDb) {
    let options = Options::default().chunk_size(10).max_concurrency(2);
    let (reports, size, (read, _), result) = write_file(t, 50, false, options).await;
    let summary = result.unwrap();
    assert!(summary.committed);
    assert_eq!(read, size);
    // One report per committed chunk, each adding its 10 rows.
    assert_eq!(
        reports.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        [(true, 10), (true, 20), (true, 30), (true, 40), (true, 50)]
    );
    assert_eq!(t.count("authors").await, 50);
}
