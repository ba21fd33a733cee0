//! Concurrent one-transaction imports that share rows (many_to_many tags): rows of every
//! statement in key order, and a call that still deadlocks retried from the start when its
//! input can be read again — or failing with the remedy when it cannot.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bulkinup::{Db, Error, Item, Options, Verb};
use common::TestDb;
use common::contention::{close_the_cycle, deadlock_items, hold_tag_2, side_items, victim_url};
use futures::stream;
use serde_json::{Value as J, json};

on_every_database!(blog: rows_of_every_statement_are_written_in_key_order);
/// What needs row locks: PostgreSQL and MariaDB/MySQL (SQLite has one writer at a time).
mod servers {
    use super::*;
    on_every_database!(@on postgres, Postgres, blog:
        two_concurrent_one_transaction_imports_sharing_tags_all_succeed,
        a_deadlocked_call_is_retried_from_the_start_and_reports_each_item_once,
        a_deadlocked_stream_fails_naming_max_concurrency_and_writes_nothing);
    on_every_database!(@on mysql, MySql, blog:
        two_concurrent_one_transaction_imports_sharing_tags_all_succeed,
        a_deadlocked_call_is_retried_from_the_start_and_reports_each_item_once,
        a_deadlocked_stream_fails_naming_max_concurrency_and_writes_nothing);
}

/// The deadlocked call's connection to the test's database ([`victim_url`]).
async fn victim(t: &TestDb) -> Db {
    Db::connect(&victim_url(t))
        .await
        .expect("the call connects")
}

/// Items as a stream that can be made again.
fn stream_of(items: Vec<J>) -> impl futures::Stream<Item = bulkinup::Result<Item>> {
    stream::iter(items.into_iter().map(|j| Ok(Item::from(j))))
}

/// The key values of one column of a batch's rows, as JSON.
fn column_of(batch: &bulkinup::plan::Batch, name: &str) -> Vec<J> {
    let c = batch
        .columns
        .iter()
        .position(|c| c.name == name)
        .unwrap_or_else(|| panic!("{} has a column {name}", batch.table));
    batch.rows.iter().map(|r| r[c].to_json()).collect()
}

/// A statement the writer hook saw: its table and the key of each row.
type Written = (String, Vec<Vec<J>>);

async fn rows_of_every_statement_are_written_in_key_order(t: &TestDb) {
    // Keys given out of order, with 10 before 9 (text order would differ) and tags listed
    // in descending order.
    let items: Vec<J> = [10, 3, 9]
        .iter()
        .map(|&a| {
            let tags: Vec<J> = [12, 2, 11]
                .iter()
                .map(|&g| json!({"id": g, "name": format!("t{g}")}))
                .collect();
            json!({"id": a, "name": "A", "posts": [
                {"id": a * 10 + 1, "author_id": a, "title": "x", "tags": tags,
                 "comments": [{"id": a * 10 + 9, "post_id": a * 10 + 1, "body": "b"},
                              {"id": a * 10 + 8, "post_id": a * 10 + 1, "body": "b"}]},
                {"id": a * 10, "author_id": a, "title": "y"}]})
        })
        .collect();
    for verb in [Verb::Upsert, Verb::Insert] {
        t.empty_blog_tables().await;
        let seen: Arc<Mutex<Vec<Written>>> = Arc::default();
        let record = Arc::clone(&seen);
        let opts = Options::default().writer(move |_ctx, batch| {
            let keys: Vec<Vec<J>> = match batch.table.as_str() {
                "posts_tags" => {
                    let (p, g) = (column_of(&batch, "post_id"), column_of(&batch, "tag_id"));
                    p.into_iter().zip(g).map(|(p, g)| vec![p, g]).collect()
                }
                _ => column_of(&batch, "id")
                    .into_iter()
                    .map(|k| vec![k])
                    .collect(),
            };
            record
                .lock()
                .expect("lock")
                .push((batch.table.clone(), keys));
            Ok(vec![batch])
        });
        bulkinup::write(&t.db, &common::blog(), "Author", verb, items.clone(), &opts)
            .await
            .unwrap_or_else(|e| panic!("{verb}: {e}"));
        let seen = std::mem::take(&mut *seen.lock().expect("lock"));
        let tables: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            tables,
            ["authors", "posts", "comments", "tags", "posts_tags"],
            "{verb}"
        );
        for (table, keys) in seen.iter() {
            let ints: Vec<Vec<i64>> = keys
                .iter()
                .map(|k| k.iter().map(|v| v.as_i64().expect("integer key")).collect())
                .collect();
            let mut sorted = ints.clone();
            sorted.sort();
            assert_eq!(ints, sorted, "{verb} {table}: rows in key order");
        }
        assert_eq!(t.count("posts_tags").await, 9, "{verb}");
    }
}

async fn two_concurrent_one_transaction_imports_sharing_tags_all_succeed(t: &TestDb) {
    let registry = common::blog();
    let opts = Options::default().chunk_size(10);
    let attempts = Arc::new(AtomicU32::new(0));
    for round in 0..20 {
        let run = |side: i64| {
            let (db, registry, opts) = (t.db.clone(), registry.clone(), opts.clone());
            let attempts = Arc::clone(&attempts);
            tokio::spawn(async move {
                let open = |_attempt| {
                    attempts.fetch_add(1, Ordering::Relaxed);
                    Ok(stream_of(side_items(side, round)))
                };
                bulkinup::write_restartable(&db, &registry, "Author", Verb::Upsert, open, &opts)
                    .await
            })
        };
        let (a, b) = tokio::join!(run(0), run(1));
        for (side, r) in [(0, a), (1, b)] {
            let summary = r
                .expect("the task ends")
                .unwrap_or_else(|e| panic!("round {round} side {side}: {e}"));
            assert_eq!((summary.written, summary.skipped), (40, 0));
            assert_eq!(summary.rows["posts_tags"], 400);
        }
    }
    eprintln!(
        "{:?}: 40 calls took {} attempts",
        t.kind,
        attempts.load(Ordering::Relaxed)
    );
    // Both calls of every round are there, whole.
    assert_eq!(t.count("authors").await, 20 * 2 * 40);
    assert_eq!(t.count("posts").await, 20 * 2 * 40);
    assert_eq!(t.count("posts_tags").await, 20 * 2 * 40 * 10);
    assert_eq!(t.count("tags").await, 40);
    let links = t
        .column("SELECT tag_id FROM posts_tags WHERE post_id = 19140 ORDER BY tag_id")
        .await;
    assert_eq!(links, (1..=10).map(|g| json!(g)).collect::<Vec<_>>());
    for name in t.column("SELECT name FROM tags").await {
        assert!(name.as_str().is_some_and(|n| n.contains(" r19 ")), "{name}");
    }
}

async fn a_deadlocked_call_is_retried_from_the_start_and_reports_each_item_once(t: &TestDb) {
    let holder = hold_tag_2(t).await;
    let opens = Arc::new(AtomicU32::new(0));
    let skipped: Arc<Mutex<Vec<J>>> = Arc::default();
    let heard = Arc::clone(&skipped);
    let opts = Options::default().on_skipped(move |s| {
        let mut heard = heard.lock().expect("lock");
        heard.extend(s.iter().map(|s| s.item.attrs.clone()));
    });
    let (db, registry) = (victim(t).await, common::blog());
    let (opened, forget) = (Arc::clone(&opens), Arc::clone(&skipped));
    let call = tokio::spawn(async move {
        let open = |attempt: u32| {
            opened.fetch_add(1, Ordering::Relaxed);
            if attempt > 1 {
                // What the rolled-back attempt reported is void.
                forget.lock().expect("lock").clear();
            }
            Ok(stream_of(deadlock_items()))
        };
        bulkinup::write_restartable(&db, &registry, "Author", Verb::Upsert, open, &opts).await
    });
    close_the_cycle(t, holder).await;
    let summary = call
        .await
        .expect("the task ends")
        .unwrap_or_else(|e| panic!("retried call: {e}"));
    assert_eq!(opens.load(Ordering::Relaxed), 2, "one retry");
    assert_eq!((summary.written, summary.skipped), (1, 1));
    assert_eq!(summary.rows["tags"], 2);
    assert_eq!(*skipped.lock().expect("lock"), vec![json!({"id": 2})]);
    // The retry committed after the holder: its values are the last written.
    assert_eq!(
        t.column("SELECT name FROM tags ORDER BY id").await,
        vec![json!("one"), json!("two")]
    );
    assert_eq!(t.post_tag_links().await, vec![json!([1, 1]), json!([1, 2])]);
}

async fn a_deadlocked_stream_fails_naming_max_concurrency_and_writes_nothing(t: &TestDb) {
    let holder = hold_tag_2(t).await;
    let (db, registry) = (victim(t).await, common::blog());
    let call = tokio::spawn(async move {
        let opts = Options::default();
        bulkinup::write_stream(
            &db,
            &registry,
            "Author",
            Verb::Upsert,
            stream_of(deadlock_items()),
            &opts,
        )
        .await
    });
    close_the_cycle(t, holder).await;
    let e = call
        .await
        .expect("the task ends")
        .expect_err("a stream cannot be read again: the deadlock is returned");
    assert!(
        matches!(
            &e,
            Error::Contention {
                attempts: 1,
                restartable: false,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 1);
    assert_eq!(e.table(), Some("tags"));
    let message = e.to_string();
    for part in [
        "another writer held the same rows at the same time",
        "not retried",
        "the whole call was rolled back",
        "--max-concurrency",
    ] {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }
    assert_eq!(t.count("authors").await, 0);
    assert_eq!(
        t.column("SELECT name FROM tags ORDER BY id").await,
        vec![json!("held"), json!("held")]
    );
}
