//! `shard`: calls with shards 0/N … N-1/N of one input, run at once, write exactly the rows
//! of one call without a shard; each item falls to one part (an invalid one is skipped by
//! one part, a repeated key is written by one part, last occurrence winning).

mod common;

use bulkinup::{Item, Options, Shard, Summary, Verb};
use common::TestDb;
use futures::stream;
use serde_json::{Value as J, json};

on_every_database!(blog:
    three_shards_at_once_write_exactly_the_rows_of_one_call,
    an_invalid_item_is_skipped_by_exactly_one_shard,
    every_occurrence_of_a_key_is_written_by_the_same_shard);

/// 60 authors, each with a profile, an address, two posts with two comments and two of a
/// pool of 6 shared tags; author 7 given a second time (renamed, its second occurrence
/// wins); one author without a name (invalid).
fn items() -> Vec<J> {
    let mut items = common::blog_feed(60, 6);
    items.push(json!({"id": 7, "name": "author 7, again"}));
    items.push(json!({"id": 61}));
    items
}

/// An upsert of `items` with `shard` (none: the whole input), retried from the start on a
/// deadlock as a call reading a file is.
async fn upsert(t: &TestDb, items: &[J], shard: Option<Shard>) -> Summary {
    let mut options = Options::default();
    if let Some(shard) = shard {
        options = options.shard(shard);
    }
    let items = items.to_vec();
    bulkinup::write_restartable(
        &t.db,
        &common::blog(),
        "Author",
        Verb::Upsert,
        |_| {
            Ok(stream::iter(
                items.clone().into_iter().map(|j| Ok(Item::from(j))),
            ))
        },
        &options,
    )
    .await
    .unwrap_or_else(|e| panic!("upsert with shard {shard:?}: {e}"))
}

/// The summaries of the parts 0/n … n-1/n of `items`, run at once.
async fn shards_at_once(t: &TestDb, items: &[J], n: u64) -> Vec<Summary> {
    let parts = (0..n).map(|k| {
        let shard = Shard::new(k, n).expect("a part");
        upsert(t, items, Some(shard))
    });
    futures::future::join_all(parts).await
}

async fn three_shards_at_once_write_exactly_the_rows_of_one_call(t: &TestDb) {
    let items = items();
    let whole = upsert(t, &items, None).await;
    let expected = t.blog_state().await;
    assert_eq!(t.count("authors").await, 60);
    t.empty_blog_tables().await;
    assert_eq!(t.count("authors").await, 0);

    let parts = shards_at_once(t, &items, 3).await;
    assert_eq!(t.blog_state().await, expected);
    let total = items.len() as u64;
    for (k, part) in parts.iter().enumerate() {
        assert_eq!(part.read() + part.other_shards, total, "part {k}: {part:?}");
        assert!(part.written > 0, "part {k} wrote nothing: {part:?}");
    }
    let sum = |f: fn(&Summary) -> u64| parts.iter().map(f).sum::<u64>();
    assert_eq!(sum(|s| s.written), whole.written);
    assert_eq!(sum(|s| s.skipped), whole.skipped);
    assert_eq!(whole.other_shards, 0);
}

async fn an_invalid_item_is_skipped_by_exactly_one_shard(t: &TestDb) {
    let items = vec![
        json!({"id": 1, "name": "one"}),
        json!({"id": 2}),
        json!({"name": "no id"}),
        json!({"id": 3, "name": "three"}),
    ];
    let parts = shards_at_once(t, &items, 3).await;
    let skipped: Vec<u64> = parts.iter().map(|s| s.skipped).collect();
    assert_eq!(skipped.iter().sum::<u64>(), 2, "{parts:?}");
    assert_eq!(
        t.column("SELECT id FROM authors ORDER BY id").await,
        vec![json!(1), json!(3)]
    );
}

async fn every_occurrence_of_a_key_is_written_by_the_same_shard(t: &TestDb) {
    // Key 5 four times, spread through the input: the part it falls to writes all four
    // (the last one wins), the others none of them.
    let mut items: Vec<J> = (10..40)
        .map(|a| json!({"id": a, "name": format!("author {a}")}))
        .collect();
    for (i, at) in [0, 9, 18, 30].into_iter().enumerate() {
        items.insert(at, json!({"id": 5, "name": format!("take {}", i + 1)}));
    }
    let n = 4;
    let parts = shards_at_once(t, &items, n).await;
    for (k, part) in parts.iter().enumerate() {
        let shard = Shard::new(k as u64, n).expect("a part");
        let own = items.iter().filter(|i| shard.owns(&i["id"], 1)).count() as u64;
        assert_eq!(part.written, own, "part {shard}: {part:?}");
    }
    let fives: Vec<u64> = parts
        .iter()
        .enumerate()
        .filter(|(k, _)| Shard::new(*k as u64, n).is_ok_and(|s| s.owns(&json!(5), 1)))
        .map(|(_, s)| s.written)
        .collect();
    assert_eq!(fives.len(), 1);
    assert!(fives[0] >= 4, "{parts:?}");
    assert_eq!(
        t.column("SELECT name FROM authors WHERE id = 5").await,
        vec![json!("take 4")]
    );
    assert_eq!(t.count("authors").await, 31);
    assert_eq!(parts.iter().map(|s| s.written).sum::<u64>(), 34);
}
