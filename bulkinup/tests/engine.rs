//! The core engine (README, "What one call does") on the blog schema, on SQLite, PostgreSQL and MySQL/MariaDB.

mod common;

use bulkinup::{DbErrorKind, Error, Item, Options};
use common::TestDb;
use pretty_assertions::assert_eq;
use serde_json::{Value as J, json};

on_every_database!(blog:
    upsert_writes_every_association_at_every_depth,
    upsert_replaces_all_fields_except_the_primary_key_on_conflict,
    insert_of_an_existing_row_fails_and_writes_nothing,
    invalid_items_are_skipped_and_counted_and_never_written,
    item_that_is_not_an_object_is_skipped,
    foreign_key_violation_in_a_child_rolls_back_the_parents_of_every_chunk,
    chunking_bounds_rows_per_statement,
    statements_split_under_the_bind_parameter_limit,
    stream_longer_than_one_chunk_is_written_whole,
    nested_belongs_to_is_not_written_but_its_foreign_key_rides_along,
    absent_children_are_never_deleted_or_nilified,
    many_to_many_related_rows_and_links_are_written_once,
    insert_writes_shared_many_to_many_rows_once_across_chunks,
    upsert_join_rows_do_nothing_on_conflict,
    duplicate_rows_in_one_upsert_call_last_occurrence_wins,
    embeds_are_written_inline_as_json,
    database_errors_name_the_table_and_kind,
    malformed_stream_item_rolls_back_everything,
    insert_keeps_special_characters_exactly,
);

fn author(id: i64, name: &str) -> J {
    json!({"id": id, "name": name, "phone_number": "555-0001"})
}

/// A full nested author, as in `examples/blog/authors.ndjson`: profile, two posts with comments and tags, embeds.
fn full_author(id: i64) -> J {
    let p = id * 10;
    json!({
        "id": id, "name": format!("Author {id}"), "phone_number": "555-0001",
        "address": {"street": "1 Main St", "city": "Springfield"},
        "social_links": [{"label": "web", "url": "https://a.example"}, {"label": "git", "url": "https://g.example"}],
        "profile": {"id": id, "author_id": id, "bio": format!("bio {id}")},
        "posts": [
            {"id": p + 1, "author_id": id, "title": format!("post {}", p + 1), "category_id": 3,
             "comments": [{"id": p * 10 + 1, "post_id": p + 1, "body": "c1"}, {"id": p * 10 + 2, "post_id": p + 1, "body": "c2"}],
             "tags": [{"id": 7, "name": "t7"}, {"id": 8, "name": "t8"}]},
            {"id": p + 2, "author_id": id, "title": format!("post {}", p + 2), "category_id": 3,
             "comments": [{"id": p * 10 + 3, "post_id": p + 2, "body": "c3"}],
             "tags": [{"id": 7, "name": "t7"}]}
        ]
    })
}

async fn seed_category(t: &TestDb) {
    t.db.execute_script("INSERT INTO categories (id, name) VALUES (3, 'seeded')")
        .await
        .unwrap();
}

async fn upsert(t: &TestDb, items: Vec<J>, opts: &Options) -> Result<bulkinup::Summary, Error> {
    bulkinup::upsert(&t.db, &common::blog(), "Author", items, opts).await
}

async fn insert(t: &TestDb, items: Vec<J>, opts: &Options) -> Result<bulkinup::Summary, Error> {
    bulkinup::insert(&t.db, &common::blog(), "Author", items, opts).await
}

async fn upsert_writes_every_association_at_every_depth(t: &TestDb) {
    seed_category(t).await;
    let s = upsert(t, vec![full_author(1), full_author(2)], &Options::default())
        .await
        .unwrap();
    assert_eq!((s.written, s.skipped), (2, 0));
    assert_eq!(
        s.to_json(),
        json!({"upserted": 2, "skipped": 0, "rows": {"authors": 2, "comments": 6, "posts": 4, "posts_tags": 6, "profiles": 2, "tags": 2}})
    );
    assert_eq!(
        t.column("SELECT name FROM authors ORDER BY id").await,
        vec![json!("Author 1"), json!("Author 2")]
    );
    assert_eq!(
        t.rows("SELECT id, author_id, bio FROM profiles ORDER BY id")
            .await,
        vec![
            json!({"id": 1, "author_id": 1, "bio": "bio 1"})
                .as_object()
                .unwrap()
                .clone(),
            json!({"id": 2, "author_id": 2, "bio": "bio 2"})
                .as_object()
                .unwrap()
                .clone(),
        ]
    );
    assert_eq!(
        t.column("SELECT id FROM posts ORDER BY id").await,
        vec![json!(11), json!(12), json!(21), json!(22)]
    );
    assert_eq!(
        t.column("SELECT post_id FROM comments ORDER BY id").await,
        vec![
            json!(11),
            json!(11),
            json!(12),
            json!(21),
            json!(21),
            json!(22)
        ]
    );
    assert_eq!(
        t.column("SELECT name FROM tags ORDER BY id").await,
        vec![json!("t7"), json!("t8")]
    );
    let links = t.post_tag_links().await;
    assert_eq!(
        links,
        vec![
            json!([11, 7]),
            json!([11, 8]),
            json!([12, 7]),
            json!([21, 7]),
            json!([21, 8]),
            json!([22, 7])
        ]
    );
}

async fn upsert_replaces_all_fields_except_the_primary_key_on_conflict(t: &TestDb) {
    upsert(
        t,
        vec![author(1, "Alice"), author(2, "Bob")],
        &Options::default(),
    )
    .await
    .unwrap();
    // The second version has no phone number: Ecto's replace_all_except sets it to NULL.
    let s = upsert(
        t,
        vec![json!({"id": 1, "name": "Alicia"})],
        &Options::default(),
    )
    .await
    .unwrap();
    assert_eq!(s.rows["authors"], 1);
    assert_eq!(
        t.rows("SELECT id, name, phone_number FROM authors ORDER BY id")
            .await,
        vec![
            json!({"id": 1, "name": "Alicia", "phone_number": null})
                .as_object()
                .unwrap()
                .clone(),
            json!({"id": 2, "name": "Bob", "phone_number": "555-0001"})
                .as_object()
                .unwrap()
                .clone(),
        ]
    );
}

async fn insert_of_an_existing_row_fails_and_writes_nothing(t: &TestDb) {
    insert(t, vec![author(1, "Alice")], &Options::default())
        .await
        .unwrap();
    let err = insert(
        t,
        vec![
            author(2, "Bob"),
            json!({"id": 1, "name": "Again", "posts": []}),
        ],
        &Options::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.table(), Some("authors"));
    assert_eq!(err.db_kind(), Some(DbErrorKind::UniqueViolation));
    assert_eq!(err.exit_code(), 1);
    assert_eq!(
        t.column("SELECT name FROM authors ORDER BY id").await,
        vec![json!("Alice")]
    );
}

async fn invalid_items_are_skipped_and_counted_and_never_written(t: &TestDb) {
    let items = vec![
        author(1, "Valid"),
        json!({"id": 2, "phone_number": "555-0002"}), // name missing
        json!({"id": 3, "name": "Bad phone", "phone_number": "5550003"}), // bad format
        json!({"id": 4, "name": "Bad post", "posts": [{"id": 40, "author_id": 4}]}), // post without title
        json!({"id": 5, "name": "Ok", "posts": [{"id": 50, "author_id": 5, "title": "fine"}]}),
    ];
    let s = upsert(t, items, &Options::default()).await.unwrap();
    assert_eq!((s.written, s.skipped), (2, 3));
    assert_eq!(
        t.column("SELECT id FROM authors ORDER BY id").await,
        vec![json!(1), json!(5)]
    );
    assert_eq!(
        t.column("SELECT id FROM posts ORDER BY id").await,
        vec![json!(50)]
    );
}

async fn item_that_is_not_an_object_is_skipped(t: &TestDb) {
    let s = upsert(
        t,
        vec![json!([1, 2]), json!("x"), author(1, "A")],
        &Options::default(),
    )
    .await
    .unwrap();
    assert_eq!((s.written, s.skipped), (1, 2));
    assert_eq!(t.count("authors").await, 1);
}

async fn foreign_key_violation_in_a_child_rolls_back_the_parents_of_every_chunk(t: &TestDb) {
    let mut items: Vec<J> = (1..=5).map(|i| author(i, "A")).collect();
    // The last chunk's post points at an author that does not exist.
    items[4] =
        json!({"id": 5, "name": "E", "posts": [{"id": 1, "author_id": 999, "title": "orphan"}]});
    let err = upsert(t, items, &Options::default().chunk_size(2))
        .await
        .unwrap_err();
    assert_eq!(err.table(), Some("posts"));
    assert_eq!(err.db_kind(), Some(DbErrorKind::ForeignKeyViolation));
    assert_eq!(
        t.count("authors").await,
        0,
        "the first chunks' authors are rolled back"
    );
    assert_eq!(t.count("posts").await, 0);
}

async fn chunking_bounds_rows_per_statement(t: &TestDb) {
    let items: Vec<J> = (1..=5)
        .map(|i| {
            json!({"id": i, "name": "A", "posts": (0..3).map(|k| json!({"id": i * 10 + k, "author_id": i, "title": "t"})).collect::<Vec<_>>()})
        })
        .collect();
    let s = upsert(t, items, &Options::default().chunk_size(2))
        .await
        .unwrap();
    if t.kind == common::Kind::Postgres {
        // A probe of the first chunk's rows of each table (none of them existing), then one
        // COPY per chunk.
        assert_eq!(s.statements["authors"], 4);
        assert_eq!(s.statements["posts"], 4);
    } else {
        // Chunks of 2, 2, 1 authors: 3 statements. Their 6, 6, 3 posts: 3 + 3 + 2 statements.
        assert_eq!(s.statements["authors"], 3);
        assert_eq!(s.statements["posts"], 8);
    }
    assert_eq!(t.count("authors").await, 5);
    assert_eq!(t.count("posts").await, 15);
}

async fn statements_split_under_the_bind_parameter_limit(t: &TestDb) {
    // Tags have 2 columns: one statement carries at most limit / 2 rows.
    let limit = t.db.dialect().bind_limit();
    let per_statement = limit / 2;
    let n = per_statement + 10;
    let tags: Vec<J> = (1..=n as i64)
        .map(|i| json!({"id": i, "name": "t"}))
        .collect();
    let item = json!({"id": 1, "name": "A", "posts": [{"id": 1, "author_id": 1, "title": "t", "tags": tags}]});
    let s = upsert(t, vec![item], &Options::default().chunk_size(n * 2))
        .await
        .unwrap();
    assert!(2 * n > limit, "the test must exceed the limit");
    // PostgreSQL probes the rows' keys and loads them with one COPY, whatever their number.
    let expected = 2;
    assert_eq!(s.statements["tags"], expected);
    assert_eq!(s.statements["posts_tags"], expected);
    assert_eq!(t.count("tags").await, n as i64);
    assert_eq!(t.count("posts_tags").await, n as i64);
}

async fn stream_longer_than_one_chunk_is_written_whole(t: &TestDb) {
    let n = 2_500i64;
    let stream = futures::stream::iter((1..=n).map(|i| Ok(Item::from(author(i, "S")))));
    let s = bulkinup::upsert_stream(
        &t.db,
        &common::blog(),
        "Author",
        stream,
        &Options::default(),
    )
    .await
    .unwrap();
    assert_eq!(s.written, n as u64);
    // One statement per chunk of 1,000; on PostgreSQL a probe of the first chunk's keys too.
    let expected = if t.kind == common::Kind::Postgres {
        4
    } else {
        3
    };
    assert_eq!(s.statements["authors"], expected);
    assert_eq!(t.count("authors").await, n);
}

async fn nested_belongs_to_is_not_written_but_its_foreign_key_rides_along(t: &TestDb) {
    seed_category(t).await;
    let item = json!({"id": 1, "name": "A", "posts": [
        {"id": 1, "author_id": 1, "title": "t", "category_id": 3, "category": {"id": 3, "name": "nested, not written"}}
    ]});
    upsert(t, vec![item], &Options::default()).await.unwrap();
    assert_eq!(
        t.column("SELECT category_id FROM posts").await,
        vec![json!(3)]
    );
    assert_eq!(
        t.column("SELECT name FROM categories").await,
        vec![json!("seeded")]
    );
}

async fn absent_children_are_never_deleted_or_nilified(t: &TestDb) {
    let posts = |ids: &[i64]| {
        ids.iter()
            .map(|&i| json!({"id": i, "author_id": 1, "title": format!("p{i}")}))
            .collect::<Vec<_>>()
    };
    upsert(t, vec![json!({"id": 1, "name": "A", "posts": posts(&[1, 2]), "profile": {"id": 1, "author_id": 1, "bio": "b"}})], &Options::default())
        .await
        .unwrap();
    // Without the children, then with only one of them, then with a null profile.
    upsert(t, vec![json!({"id": 1, "name": "A2"})], &Options::default())
        .await
        .unwrap();
    upsert(
        t,
        vec![json!({"id": 1, "name": "A3", "posts": posts(&[1]), "profile": null})],
        &Options::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        t.column("SELECT id FROM posts ORDER BY id").await,
        vec![json!(1), json!(2)]
    );
    assert_eq!(
        t.column("SELECT author_id FROM posts ORDER BY id").await,
        vec![json!(1), json!(1)]
    );
    assert_eq!(t.column("SELECT bio FROM profiles").await, vec![json!("b")]);
    assert_eq!(
        t.column("SELECT name FROM authors").await,
        vec![json!("A3")]
    );
}

async fn many_to_many_related_rows_and_links_are_written_once(t: &TestDb) {
    let tag = |id: i64| json!({"id": id, "name": format!("t{id}")});
    let items = vec![
        json!({"id": 1, "name": "A", "posts": [{"id": 1, "author_id": 1, "title": "x", "tags": [tag(7), tag(7), tag(8)]}]}),
        json!({"id": 2, "name": "B", "posts": [{"id": 2, "author_id": 2, "title": "y", "tags": [tag(7)]}]}),
    ];
    let s = upsert(t, items, &Options::default()).await.unwrap();
    assert_eq!(s.rows["tags"], 2);
    assert_eq!(s.rows["posts_tags"], 3);
    assert_eq!(t.count("tags").await, 2);
    assert_eq!(t.count("posts_tags").await, 3);
}

async fn insert_writes_shared_many_to_many_rows_once_across_chunks(t: &TestDb) {
    let items: Vec<J> = (1..=4)
        .map(|i| json!({"id": i, "name": "A", "posts": [{"id": i, "author_id": i, "title": "x", "tags": [{"id": 7, "name": "t7"}]}]}))
        .collect();
    let s = insert(t, items, &Options::default().chunk_size(1))
        .await
        .unwrap();
    assert_eq!(s.rows["tags"], 1);
    assert_eq!(t.count("tags").await, 1);
    assert_eq!(t.count("posts_tags").await, 4);
}

async fn upsert_join_rows_do_nothing_on_conflict(t: &TestDb) {
    let item = json!({"id": 1, "name": "A", "posts": [{"id": 1, "author_id": 1, "title": "x", "tags": [{"id": 7, "name": "t7"}]}]});
    upsert(t, vec![item.clone()], &Options::default())
        .await
        .unwrap();
    let s = upsert(t, vec![item], &Options::default()).await.unwrap();
    assert_eq!(s.rows["posts_tags"], 1);
    assert_eq!(t.count("posts_tags").await, 1);
}

async fn duplicate_rows_in_one_upsert_call_last_occurrence_wins(t: &TestDb) {
    let s = upsert(
        t,
        vec![author(1, "first"), author(2, "B"), author(1, "last")],
        &Options::default(),
    )
    .await
    .unwrap();
    assert_eq!(s.written, 3);
    assert_eq!(s.rows["authors"], 2);
    assert_eq!(
        t.column("SELECT name FROM authors ORDER BY id").await,
        vec![json!("last"), json!("B")]
    );
}

async fn embeds_are_written_inline_as_json(t: &TestDb) {
    seed_category(t).await;
    upsert(
        t,
        vec![full_author(1), author(2, "no embeds")],
        &Options::default(),
    )
    .await
    .unwrap();
    let rows = t
        .rows("SELECT address, social_links FROM authors ORDER BY id")
        .await;
    assert_eq!(
        rows[0]["address"],
        json!({"street": "1 Main St", "city": "Springfield"})
    );
    assert_eq!(
        rows[0]["social_links"],
        json!([{"label": "web", "url": "https://a.example"}, {"label": "git", "url": "https://g.example"}])
    );
    assert_eq!(
        (&rows[1]["address"], &rows[1]["social_links"]),
        (&J::Null, &J::Null)
    );
}

async fn database_errors_name_the_table_and_kind(t: &TestDb) {
    // not null: the `upsert_changeset` casts only the id, and authors.name is NOT NULL.
    let err = upsert(
        t,
        vec![json!({"id": 1, "name": "x"})],
        &Options::default().changeset("upsert_changeset"),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.table(), err.db_kind()),
        (Some("authors"), Some(DbErrorKind::NotNullViolation))
    );
    assert!(err.to_string().contains("authors"), "{err}");
    assert_eq!(t.count("authors").await, 0);
}

async fn malformed_stream_item_rolls_back_everything(t: &TestDb) {
    let items = (1..=5).map(|i| {
        if i == 4 {
            Err(Error::Input {
                file: Some("in.ndjson".into()),
                line: Some(4),
                message: "expected value".into(),
            })
        } else {
            Ok(Item::from(author(i, "A")))
        }
    });
    let err = bulkinup::upsert_stream(
        &t.db,
        &common::blog(),
        "Author",
        futures::stream::iter(items),
        &Options::default().chunk_size(2),
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(err.to_string().contains("line 4"), "{err}");
    assert_eq!(t.count("authors").await, 0);
}

async fn insert_keeps_special_characters_exactly(t: &TestDb) {
    // Tabs, newlines, backslashes and quotes must survive every write path (PostgreSQL
    // inserts go through COPY's text format).
    let name = "tab\there\nnew line \\ back\\slash \"quoted\" 'single' é \\N";
    let item = json!({"id": 1, "name": name, "phone_number": null,
        "address": {"street": "a\\b\tc", "city": "line\nbreak"}});
    insert(t, vec![item], &Options::default()).await.unwrap();
    let rows = t
        .rows("SELECT name, phone_number, address FROM authors")
        .await;
    assert_eq!(rows[0]["name"], json!(name));
    assert_eq!(rows[0]["phone_number"], J::Null);
    assert_eq!(
        rows[0]["address"],
        json!({"street": "a\\b\tc", "city": "line\nbreak"})
    );
}
