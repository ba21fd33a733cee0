//! `max_concurrency` with chunks that share many_to_many rows: no deadlock, on SQLite,
//! PostgreSQL and MySQL/MariaDB.

mod common;

use bulkinup::Options;
use common::TestDb;
use serde_json::{Value as J, json};

on_every_database!(blog: four_concurrent_chunks_sharing_tags_never_deadlock);

/// 40 authors in 4 chunks of 10; every post links the same 30 tags, in ascending order in
/// the first and third chunks and descending in the others (the orders that deadlock
/// unsorted concurrent writes).
fn items(round: i64) -> Vec<J> {
    (1..=40)
        .map(|a| {
            let mut ids: Vec<i64> = (1..=30).collect();
            if (a - 1) / 10 % 2 == 1 {
                ids.reverse();
            }
            let tags: Vec<J> = ids.iter().map(|t| json!({"id": t, "name": format!("t{t} r{round}")})).collect();
            json!({"id": a, "name": format!("A{a} r{round}"), "posts": [{"id": a, "author_id": a, "title": "x", "tags": tags}]})
        })
        .collect()
}

async fn four_concurrent_chunks_sharing_tags_never_deadlock(t: &TestDb) {
    let opts = Options::default().chunk_size(10).max_concurrency(4);
    for round in 0..10 {
        let s = bulkinup::upsert(&t.db, &common::blog(), "Author", items(round), &opts)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(s.written, 40);
    }
    assert_eq!(t.count("tags").await, 30);
    assert_eq!(t.count("posts_tags").await, 1200);
    assert_eq!(
        t.column("SELECT name FROM authors WHERE id = 1").await,
        vec![json!("A1 r9")]
    );
}
