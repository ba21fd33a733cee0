//! Skipped items are reported once per call (README, "What one call does") — one warning with the count and the
//! first 50 primary keys — however many chunks they span; on every database.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use bulkinup::Options;
use common::TestDb;
use serde_json::{Value as J, json};

on_every_database!(blog: skipped_items_are_reported_in_one_warning_per_call);

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
