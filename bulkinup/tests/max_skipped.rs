//! `max_skipped` (README, "Invalid items"): more invalid items than the limit fail the call
//! with `Error::TooManyInvalid` (exit status 4) — a count as soon as it is passed, a
//! percentage at the end of the input, before the commit — rolled back in one transaction,
//! the chunks already committed kept with `max_concurrency`; and the skipped-items line's hint
//! at `infer_foreign_keys` when most skipped items lack a child's foreign key. On every
//! database.

mod common;

use bulkinup::{Error, MaxSkipped, Options};
use common::TestDb;
use serde_json::{Value as J, json};

on_every_database!(blog:
    more_invalid_items_than_max_skipped_fail_with_exit_4_and_write_nothing,
    invalid_items_up_to_max_skipped_are_skipped_and_the_rest_written,
    a_percentage_passed_at_the_end_of_the_input_rolls_everything_back,
    with_max_concurrency_the_chunks_committed_before_the_limit_stay,
    a_missing_child_foreign_key_hints_at_infer_foreign_keys,
    other_invalid_items_give_no_hint,
);

/// `valid` valid authors (ids from 1), then `invalid` authors without a name.
fn authors(valid: u64, invalid: u64) -> Vec<J> {
    let mut items: Vec<J> = (1..=valid)
        .map(|i| json!({"id": i, "name": format!("a{i}")}))
        .collect();
    items.extend((valid + 1..=valid + invalid).map(|i| json!({"id": i})));
    items
}

/// The error of an upsert of `items` into the blog that passes `options`' `max_skipped`
/// (exit status 4).
async fn too_many_invalid(t: &TestDb, items: Vec<J>, options: &Options) -> Error {
    let e = bulkinup::upsert(&t.db, &common::blog(), "Author", items, options)
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 4, "{e}");
    e
}

async fn more_invalid_items_than_max_skipped_fail_with_exit_4_and_write_nothing(t: &TestDb) {
    // 6 valid items in 3 chunks written first, then 3 invalid ones: the third passes 2.
    let options = Options::default()
        .chunk_size(2)
        .max_skipped(MaxSkipped::Items(2));
    let e = too_many_invalid(t, authors(6, 3), &options).await;
    assert!(
        matches!(
            e,
            Error::TooManyInvalid {
                invalid: 3,
                total: 9,
                per_chunk: false,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "too many invalid items: 3 of 9 skipped (--max-skipped 2); the transaction was rolled back: nothing was written"
    );
    assert_eq!(t.count("authors").await, 0);
}

async fn invalid_items_up_to_max_skipped_are_skipped_and_the_rest_written(t: &TestDb) {
    for limit in [MaxSkipped::Items(3), MaxSkipped::Percent(50.0)] {
        let options = Options::default().chunk_size(2).max_skipped(limit);
        let s = bulkinup::upsert(&t.db, &common::blog(), "Author", authors(3, 3), &options)
            .await
            .unwrap();
        assert_eq!((s.written, s.skipped), (3, 3), "{limit}");
        assert_eq!(t.count("authors").await, 3, "{limit}");
    }
}

async fn a_percentage_passed_at_the_end_of_the_input_rolls_everything_back(t: &TestDb) {
    // The 2 invalid items come first: 2 of 2 read is 100 %, but only the end counts
    // (2 of 10 = 20 % > 10 %), after every chunk was written in the transaction.
    let mut items = vec![json!({"id": 100}), json!({"id": 101})];
    items.extend(authors(8, 0));
    let options = Options::default()
        .chunk_size(3)
        .max_skipped(MaxSkipped::Percent(10.0));
    let e = too_many_invalid(t, items.clone(), &options).await;
    assert!(
        e.to_string()
            .starts_with("too many invalid items: 2 of 10 skipped (--max-skipped 10%)"),
        "{e}"
    );
    assert_eq!(t.count("authors").await, 0);

    let options = options.max_skipped(MaxSkipped::Percent(20.0));
    let s = bulkinup::upsert(&t.db, &common::blog(), "Author", items, &options)
        .await
        .unwrap();
    assert_eq!((s.written, s.skipped), (8, 2));
    assert_eq!(t.count("authors").await, 8);
}

async fn with_max_concurrency_the_chunks_committed_before_the_limit_stay(t: &TestDb) {
    // One chunk at a time: chunks 1 and 2 (4 valid authors) commit before chunk 3 is read,
    // whose 2 invalid items pass the limit of 1.
    let options = Options::default()
        .chunk_size(2)
        .max_concurrency(1)
        .max_skipped(MaxSkipped::Items(1));
    let e = too_many_invalid(t, authors(4, 2), &options).await;
    let Error::PartlyCommitted { committed, source } = &e else {
        panic!("not PartlyCommitted: {e:?}");
    };
    assert!(
        matches!(
            **source,
            Error::TooManyInvalid {
                per_chunk: true,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        source
            .to_string()
            .ends_with("chunks already committed stay committed (--max-concurrency)"),
        "{e}"
    );
    // Items 1-4: the two chunks committed.
    assert_eq!(
        committed
            .iter()
            .map(|r| (r.first, r.last))
            .collect::<Vec<_>>(),
        [(1, 4)]
    );
    assert_eq!(t.count("authors").await, 4);
}

/// Authors whose posts lack `author_id` (required by the post's changeset).
fn authors_with_posts_lacking_their_foreign_key() -> Vec<J> {
    (1..=3)
        .map(|i| json!({"id": i, "name": format!("a{i}"), "posts": [{"id": i, "title": "t"}]}))
        .collect()
}

async fn a_missing_child_foreign_key_hints_at_infer_foreign_keys(t: &TestDb) {
    let registry = common::blog();
    let mut items = authors_with_posts_lacking_their_foreign_key();
    items.push(json!({"id": 9})); // one other error: the foreign keys still dominate
    let s = bulkinup::upsert(&t.db, &registry, "Author", items, &Options::default())
        .await
        .unwrap();
    assert_eq!(
        (s.written, s.skipped, s.skipped_for_missing_foreign_key),
        (0, 4, 3)
    );
    let line = s.skipped_line().unwrap();
    assert!(line.ends_with(bulkinup::INFER_FOREIGN_KEYS_HINT), "{line}");
    assert!(line.contains("--infer-foreign-keys"), "{line}");
    assert_eq!(t.count("authors").await, 0);

    // What the hint says: with the option, the same items are written.
    let items = authors_with_posts_lacking_their_foreign_key();
    let options = Options::default().infer_foreign_keys(true);
    let s = bulkinup::upsert(&t.db, &registry, "Author", items, &options)
        .await
        .unwrap();
    assert_eq!((s.written, s.skipped), (3, 0));
    assert_eq!(t.count("posts").await, 3);
}

async fn other_invalid_items_give_no_hint(t: &TestDb) {
    // A post without a title, authors without a name, a post with a foreign key that is not
    // a number: none is a foreign key inference would fill.
    let items = vec![
        json!({"id": 1, "name": "a", "posts": [{"id": 1, "author_id": 1, "title": ""}]}),
        json!({"id": 2}),
        json!({"id": 3, "name": "c", "posts": [{"id": 3, "author_id": "x", "title": "t"}]}),
        // The only one lacking a foreign key: not most of them.
        json!({"id": 4, "name": "d", "posts": [{"id": 4, "title": "t"}]}),
    ];
    let s = bulkinup::upsert(&t.db, &common::blog(), "Author", items, &Options::default())
        .await
        .unwrap();
    assert_eq!((s.skipped, s.skipped_for_missing_foreign_key), (4, 1));
    let line = s.skipped_line().unwrap();
    assert!(!line.contains("hint"), "{line}");
    assert!(!line.contains("infer"), "{line}");
    assert_eq!(t.count("authors").await, 0);
}
