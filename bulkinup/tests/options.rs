//! The options of a call (README, "Library") on the blog schema, on SQLite, PostgreSQL and MySQL/MariaDB.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bulkinup::plan::OnConflict;
use bulkinup::{ConflictAction, DbErrorKind, Error, Options, Repo, Summary, Verb};
use common::TestDb;
use pretty_assertions::assert_eq;
use serde_json::{Value as J, json};

on_every_database!(blog:
    placeholder_satisfies_required_on_the_root,
    placeholder_satisfies_required_on_a_has_many_child,
    placeholder_satisfies_required_on_a_many_to_many_child,
    placeholder_replaces_per_row_values_and_is_written_without_cast,
    placeholder_on_a_join_table_adds_a_column_value,
    recovery_in_has_one_and_has_many,
    recovery_in_many_to_many,
    recovery_in_embeds_one_and_embeds_many,
    recovery_across_three_nesting_levels,
    recoverable_parent_with_unrecoverable_child_is_skipped_whole,
    on_conflict_nothing_on_parent_with_replace_title_on_child,
    replace_all_except_keeps_a_field_on_conflict,
    insert_recipe_tolerates_existing_shared_many_to_many_children,
    conflict_target_on_a_unique_column,
    max_concurrency_keeps_committed_chunks_when_a_later_chunk_fails,
    max_concurrency_writes_everything_with_shared_tags,
    timeout_fails_the_call_and_rolls_back,
    writer_hook_sees_conflict_options_and_timeout_and_can_alter_rows,
    handlers_are_called_once_per_chunk,
    repo_defaults_precedence_call_over_verb_over_shared,
    changeset_option_selects_the_root_changeset,
    dry_run_writes_nothing_and_counts_rows,
);

fn blog() -> bulkinup::Registry {
    common::blog()
}

async fn upsert(t: &TestDb, items: Vec<J>, opts: &Options) -> Result<Summary, Error> {
    bulkinup::upsert(&t.db, &blog(), "Author", items, opts).await
}

async fn insert(t: &TestDb, items: Vec<J>, opts: &Options) -> Result<Summary, Error> {
    bulkinup::insert(&t.db, &blog(), "Author", items, opts).await
}

fn post(id: i64, author: i64) -> J {
    json!({"id": id, "author_id": author, "title": format!("p{id}")})
}

async fn placeholder_satisfies_required_on_the_root(t: &TestDb) {
    let opts = Options::default().placeholder("Author", "name", json!("Anonymous"));
    let s = upsert(
        t,
        vec![json!({"id": 1}), json!({"id": 2, "name": "ignored"})],
        &opts,
    )
    .await
    .unwrap();
    assert_eq!((s.written, s.skipped), (2, 0));
    assert_eq!(
        t.column("SELECT name FROM authors ORDER BY id").await,
        vec![json!("Anonymous"), json!("Anonymous")]
    );
}

async fn placeholder_satisfies_required_on_a_has_many_child(t: &TestDb) {
    let opts = Options::default().placeholder("Post", "title", json!("Untitled"));
    let item = json!({"id": 1, "name": "A", "posts": [{"id": 1, "author_id": 1}, {"id": 2, "author_id": 1}]});
    let s = upsert(t, vec![item], &opts).await.unwrap();
    assert_eq!(s.skipped, 0);
    assert_eq!(
        t.column("SELECT title FROM posts ORDER BY id").await,
        vec![json!("Untitled"), json!("Untitled")]
    );
}

async fn placeholder_satisfies_required_on_a_many_to_many_child(t: &TestDb) {
    let opts = Options::default().placeholder("Tag", "name", json!("tag"));
    let item = json!({"id": 1, "name": "A", "posts": [{"id": 1, "author_id": 1, "title": "x", "tags": [{"id": 7}, {"id": 8}]}]});
    let s = upsert(t, vec![item], &opts).await.unwrap();
    assert_eq!(s.skipped, 0);
    assert_eq!(
        t.column("SELECT name FROM tags ORDER BY id").await,
        vec![json!("tag"), json!("tag")]
    );
}

async fn placeholder_replaces_per_row_values_and_is_written_without_cast(t: &TestDb) {
    // `inserted_at` is not cast by the Author changeset, but a placeholder is written anyway.
    let opts = Options::default().placeholder(
        "Author",
        "inserted_at",
        json!("2024-05-06T07:08:09.123456Z"),
    );
    upsert(
        t,
        vec![json!({"id": 1, "name": "A", "inserted_at": "1999-01-01T00:00:00Z"})],
        &opts,
    )
    .await
    .unwrap();
    let v = t.column("SELECT inserted_at FROM authors").await;
    let text = v[0].as_str().unwrap_or_default().to_string();
    assert!(
        text.starts_with("2024-05-06") && text.contains("07:08:09.123456"),
        "{text}"
    );
}

async fn placeholder_on_a_join_table_adds_a_column_value(t: &TestDb) {
    t.db.execute_script("ALTER TABLE posts_tags ADD COLUMN source VARCHAR(20)")
        .await
        .unwrap();
    let opts = Options::default().placeholder("posts_tags", "source", json!("import"));
    let item = json!({"id": 1, "name": "A", "posts": [{"id": 1, "author_id": 1, "title": "x", "tags": [{"id": 7, "name": "a"}, {"id": 8, "name": "b"}]}]});
    upsert(t, vec![item], &opts).await.unwrap();
    assert_eq!(
        t.column("SELECT source FROM posts_tags ORDER BY tag_id")
            .await,
        vec![json!("import"), json!("import")]
    );
}

async fn recovery_in_has_one_and_has_many(t: &TestDb) {
    let opts = Options::default()
        .recover("Post", "title", json!("UNTITLED"))
        .recover("Profile", "bio", json!("(none)"));
    let item = json!({"id": 1, "name": "A", "profile": {"id": 1, "author_id": 1},
        "posts": [{"id": 1, "author_id": 1}, post(2, 1)]});
    let s = upsert(t, vec![item, json!({"id": 2, "name": "B"})], &opts)
        .await
        .unwrap();
    assert_eq!((s.written, s.skipped, s.recovered), (2, 0, 1));
    assert_eq!(
        t.column("SELECT title FROM posts ORDER BY id").await,
        vec![json!("UNTITLED"), json!("p2")]
    );
    assert_eq!(
        t.column("SELECT bio FROM profiles").await,
        vec![json!("(none)")]
    );
}

async fn recovery_in_many_to_many(t: &TestDb) {
    let opts = Options::default().recover("Tag", "name", json!("unnamed"));
    let item = json!({"id": 1, "name": "A", "posts": [{"id": 1, "author_id": 1, "title": "x", "tags": [{"id": 7}, {"id": 8, "name": "b"}]}]});
    let s = upsert(t, vec![item], &opts).await.unwrap();
    assert_eq!(s.recovered, 1);
    assert_eq!(
        t.column("SELECT name FROM tags ORDER BY id").await,
        vec![json!("unnamed"), json!("b")]
    );
}

async fn recovery_in_embeds_one_and_embeds_many(t: &TestDb) {
    let opts = Options::default()
        .recover("Address", "city", json!("Unknown"))
        .recover("SocialLink", "url", json!("about:blank"));
    let item = json!({"id": 1, "name": "A", "address": {"street": "s"}, "social_links": [{"label": "web"}]});
    let s = upsert(t, vec![item], &opts).await.unwrap();
    assert_eq!(s.recovered, 1);
    let row = &t.rows("SELECT address, social_links FROM authors").await[0];
    assert_eq!(row["address"], json!({"street": "s", "city": "Unknown"}));
    assert_eq!(
        row["social_links"],
        json!([{"label": "web", "url": "about:blank"}])
    );
}

async fn recovery_across_three_nesting_levels(t: &TestDb) {
    let opts = Options::default()
        .recover("Author", "phone_number", J::Null)
        .recover("Post", "title", json!("T"))
        .recover("Comment", "body", json!("B"));
    let item = json!({"id": 1, "name": "A", "phone_number": "bad",
        "posts": [{"id": 1, "author_id": 1, "comments": [{"id": 1, "post_id": 1}]}]});
    let s = upsert(t, vec![item], &opts).await.unwrap();
    assert_eq!((s.written, s.recovered), (1, 1));
    assert_eq!(
        t.column("SELECT phone_number FROM authors").await,
        vec![J::Null]
    );
    assert_eq!(t.column("SELECT title FROM posts").await, vec![json!("T")]);
    assert_eq!(
        t.column("SELECT body FROM comments").await,
        vec![json!("B")]
    );
}

async fn recoverable_parent_with_unrecoverable_child_is_skipped_whole(t: &TestDb) {
    let opts = Options::default().recover("Author", "phone_number", J::Null);
    let items = vec![
        // The author's error has a fallback, its post's does not: skipped whole.
        json!({"id": 1, "name": "A", "phone_number": "bad", "posts": [{"id": 1, "author_id": 1}]}),
        json!({"id": 2, "name": "B", "phone_number": "bad"}),
    ];
    let s = upsert(t, items, &opts).await.unwrap();
    assert_eq!((s.written, s.skipped, s.recovered), (1, 1, 1));
    assert_eq!(t.column("SELECT id FROM authors").await, vec![json!(2)]);
    assert_eq!(t.count("posts").await, 0);
}

async fn on_conflict_nothing_on_parent_with_replace_title_on_child(t: &TestDb) {
    let v1 = json!({"id": 1, "name": "A", "posts": [{"id": 1, "author_id": 1, "title": "old", "category_id": null}]});
    upsert(t, vec![v1], &Options::default()).await.unwrap();
    let opts = Options::default()
        .on_conflict("Author", ConflictAction::Nothing)
        .on_conflict("Post", ConflictAction::Replace(vec!["title".into()]));
    let v2 = json!({"id": 1, "name": "B", "posts": [{"id": 1, "author_id": 1, "title": "new"}]});
    upsert(t, vec![v2], &opts).await.unwrap();
    assert_eq!(t.column("SELECT name FROM authors").await, vec![json!("A")]);
    assert_eq!(
        t.column("SELECT title FROM posts").await,
        vec![json!("new")]
    );
}

async fn replace_all_except_keeps_a_field_on_conflict(t: &TestDb) {
    upsert(
        t,
        vec![json!({"id": 1, "name": "A", "phone_number": "555-0001"})],
        &Options::default(),
    )
    .await
    .unwrap();
    let opts = Options::default().replace_all_except(["phone_number"]);
    upsert(t, vec![json!({"id": 1, "name": "B"})], &opts)
        .await
        .unwrap();
    assert_eq!(
        t.rows("SELECT name, phone_number FROM authors").await[0],
        json!({"name": "B", "phone_number": "555-0001"})
            .as_object()
            .unwrap()
            .clone()
    );
}

async fn insert_recipe_tolerates_existing_shared_many_to_many_children(t: &TestDb) {
    let with_tag = |a: i64| json!({"id": a, "name": "A", "posts": [{"id": a, "author_id": a, "title": "x", "tags": [{"id": 7, "name": "t7"}]}]});
    insert(t, vec![with_tag(1)], &Options::default())
        .await
        .unwrap();
    // Plain insert fails on the existing tag...
    let err = insert(t, vec![with_tag(2)], &Options::default())
        .await
        .unwrap_err();
    assert_eq!(
        (err.table(), err.db_kind()),
        (Some("tags"), Some(DbErrorKind::UniqueViolation))
    );
    // ...the recipe tolerates it.
    let opts = Options::default()
        .on_conflict("Tag", ConflictAction::Nothing)
        .on_conflict("posts_tags", ConflictAction::Nothing);
    insert(t, vec![with_tag(2)], &opts).await.unwrap();
    assert_eq!(t.count("tags").await, 1);
    assert_eq!(t.count("posts_tags").await, 2);
    assert_eq!(t.count("authors").await, 2);
}

async fn conflict_target_on_a_unique_column(t: &TestDb) {
    t.db.execute_script("CREATE UNIQUE INDEX tags_name ON tags (name)")
        .await
        .unwrap();
    let reg = blog();
    let tags = |v: Vec<(i64, &str)>| {
        v.into_iter()
            .map(|(id, n)| json!({"id": id, "name": n}))
            .collect::<Vec<_>>()
    };
    bulkinup::upsert(
        &t.db,
        &reg,
        "Tag",
        tags(vec![(1, "rust")]),
        &Options::default(),
    )
    .await
    .unwrap();
    // A new id with an existing name conflicts on `name`; the id is kept as the key of the row.
    let opts = Options::default()
        .conflict_target("Tag", ["name"])
        .on_conflict("Tag", ConflictAction::Nothing);
    bulkinup::upsert(
        &t.db,
        &reg,
        "Tag",
        tags(vec![(2, "rust"), (3, "go")]),
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(
        t.column("SELECT id FROM tags ORDER BY id").await,
        vec![json!(1), json!(3)]
    );
}

async fn max_concurrency_keeps_committed_chunks_when_a_later_chunk_fails(t: &TestDb) {
    let mut items: Vec<J> = (1..=4).map(|i| json!({"id": i, "name": "A"})).collect();
    items.push(json!({"id": 5, "name": "E", "posts": [post(1, 999)]}));
    let opts = Options::default().chunk_size(1).max_concurrency(2);
    let err = upsert(t, items, &opts).await.unwrap_err();
    assert_eq!(
        (err.table(), err.db_kind()),
        (Some("posts"), Some(DbErrorKind::ForeignKeyViolation))
    );
    assert_eq!(
        t.column("SELECT id FROM authors ORDER BY id").await,
        vec![json!(1), json!(2), json!(3), json!(4)]
    );
}

async fn max_concurrency_writes_everything_with_shared_tags(t: &TestDb) {
    let items: Vec<J> = (1..=40)
        .map(|i| {
            json!({"id": i, "name": "A", "posts": [{"id": i, "author_id": i, "title": "x",
            "tags": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]}]})
        })
        .collect();
    let s = upsert(
        t,
        items,
        &Options::default().chunk_size(5).max_concurrency(4),
    )
    .await
    .unwrap();
    assert_eq!(s.written, 40);
    assert_eq!(t.count("authors").await, 40);
    assert_eq!(t.count("tags").await, 3);
    assert_eq!(t.count("posts_tags").await, 120);
}

async fn timeout_fails_the_call_and_rolls_back(t: &TestDb) {
    let opts = Options::default()
        .timeout(Some(Duration::from_millis(100)))
        .writer(|_, batch| {
            if batch.table == "posts" {
                std::thread::sleep(Duration::from_millis(300));
            }
            Ok(vec![batch])
        });
    let item = json!({"id": 1, "name": "A", "posts": [post(1, 1)]});
    let err = upsert(t, vec![item], &opts).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert_eq!(err.exit_code(), 1);
    assert_eq!(t.count("authors").await, 0);
}

async fn writer_hook_sees_conflict_options_and_timeout_and_can_alter_rows(t: &TestDb) {
    type Seen = (String, OnConflict, Option<Duration>, Verb);
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = Arc::clone(&seen);
    let opts = Options::default()
        .timeout(Some(Duration::from_secs(42)))
        .on_conflict("Tag", ConflictAction::Nothing)
        .writer(move |ctx, mut batch| {
            log.lock().unwrap().push((
                batch.table.clone(),
                (*batch.on_conflict).clone(),
                ctx.timeout,
                ctx.verb,
            ));
            if batch.table == "authors" {
                let name = batch.columns.iter().position(|c| c.name == "name").unwrap();
                for row in &mut batch.rows {
                    row[name] = bulkinup::Value::String("changed by hook".into());
                }
            }
            Ok(vec![batch])
        });
    let item = json!({"id": 1, "name": "A", "posts": [{"id": 1, "author_id": 1, "title": "x", "tags": [{"id": 7, "name": "t"}]}]});
    upsert(t, vec![item], &opts).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    let tables: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(tables, vec!["authors", "posts", "tags", "posts_tags"]);
    assert_eq!(
        seen[2].1,
        OnConflict::Nothing {
            target: vec!["id".into()]
        }
    );
    assert!(
        matches!(&seen[0].1, OnConflict::Update { target, .. } if target == &vec!["id".to_string()])
    );
    assert!(
        seen.iter()
            .all(|s| s.2 == Some(Duration::from_secs(42)) && s.3 == Verb::Upsert)
    );
    assert_eq!(
        t.column("SELECT name FROM authors").await,
        vec![json!("changed by hook")]
    );
}

async fn handlers_are_called_once_per_chunk(t: &TestDb) {
    let skipped_calls: Arc<Mutex<Vec<Vec<J>>>> = Arc::default();
    let recovered_calls: Arc<Mutex<Vec<usize>>> = Arc::default();
    let (s1, r1) = (Arc::clone(&skipped_calls), Arc::clone(&recovered_calls));
    let opts = Options::default()
        .chunk_size(2)
        .recover("Author", "phone_number", J::Null)
        .on_skipped(move |sk| {
            s1.lock()
                .unwrap()
                .push(sk.iter().map(|s| s.changeset.errors_json()).collect())
        })
        .on_recovered(move |rc| r1.lock().unwrap().push(rc.len()));
    let items = vec![
        json!({"id": 1}),                                   // chunk 1: skipped
        json!({"id": 2, "name": "B", "phone_number": "x"}), // chunk 1: recovered
        json!({"id": 3}),                                   // chunk 2: skipped
        json!({"id": 4, "name": "D"}),
    ];
    let s = upsert(t, items, &opts).await.unwrap();
    assert_eq!((s.written, s.skipped, s.recovered), (2, 2, 1));
    assert_eq!(
        *skipped_calls.lock().unwrap(),
        vec![
            vec![json!({"name": ["can't be blank"]})],
            vec![json!({"name": ["can't be blank"]})]
        ]
    );
    assert_eq!(*recovered_calls.lock().unwrap(), vec![1]);
    assert_eq!(
        t.column("SELECT id FROM authors ORDER BY id").await,
        vec![json!(2), json!(4)]
    );
}

async fn repo_defaults_precedence_call_over_verb_over_shared(t: &TestDb) {
    let repo = Repo::new(t.db.clone(), blog())
        .defaults(|o| {
            o.placeholder("Author", "name", json!("shared"))
                .replace_all_except(["phone_number"])
        })
        .upsert_defaults(|o| o.placeholder("Author", "name", json!("upsert default")));
    // per-verb beats shared
    repo.upsert(
        "Author",
        vec![json!({"id": 1, "phone_number": "555-0001"})],
        |o| o,
    )
    .await
    .unwrap();
    // per-call beats per-verb; the shared replace_all_except keeps the phone on upsert
    repo.upsert("Author", vec![json!({"id": 1})], |o| {
        o.placeholder("Author", "name", json!("call"))
    })
    .await
    .unwrap();
    assert_eq!(
        t.rows("SELECT name, phone_number FROM authors").await[0],
        json!({"name": "call", "phone_number": "555-0001"})
            .as_object()
            .unwrap()
            .clone()
    );
    // shared applies to insert, and the upsert-only shared default is not an error there
    repo.insert("Author", vec![json!({"id": 2})], |o| o)
        .await
        .unwrap();
    assert_eq!(
        t.column("SELECT name FROM authors WHERE id = 2").await,
        vec![json!("shared")]
    );
    // ...but an upsert-only option given to an insert call is
    let err = repo
        .insert("Author", vec![json!({"id": 3})], |o| {
            o.replace_all_except(["name"])
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidOption { name, .. } if name == "replace_all_except"),
        "{err}"
    );
    assert!(
        err.to_string().contains("only applies to an upsert"),
        "{err}"
    );
    assert_eq!(t.count("authors").await, 2);
}

async fn changeset_option_selects_the_root_changeset(t: &TestDb) {
    upsert(
        t,
        vec![json!({"id": 1, "name": "A", "phone_number": "555-0001"})],
        &Options::default(),
    )
    .await
    .unwrap();
    // `upsert_changeset` casts only the id: the bad phone number is ignored, not an error,
    // and on PostgreSQL/SQLite/MySQL the row's name becomes NULL — a NOT NULL violation.
    let err = upsert(
        t,
        vec![json!({"id": 1, "phone_number": "bad"})],
        &Options::default().changeset("upsert_changeset"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.db_kind(), Some(DbErrorKind::NotNullViolation));
    let err = upsert(
        t,
        vec![json!({"id": 1})],
        &Options::default().changeset("nope"),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("upsert_changeset"),
        "lists the valid changesets: {err}"
    );
    assert_eq!(t.column("SELECT name FROM authors").await, vec![json!("A")]);
}

async fn dry_run_writes_nothing_and_counts_rows(t: &TestDb) {
    let item = json!({"id": 1, "name": "A", "posts": [post(1, 1), post(2, 1)]});
    let s = upsert(
        t,
        vec![item, json!({"id": 2})],
        &Options::default().dry_run(true),
    )
    .await
    .unwrap();
    assert_eq!((s.written, s.skipped), (1, 1));
    assert_eq!(s.rows["posts"], 2);
    assert_eq!(t.count("authors").await, 0);
}

// Option errors need no database: they are reported before anything is written.

#[tokio::test]
async fn option_errors_name_the_option_and_the_valid_choices() {
    let db = bulkinup::Db::connect("sqlite::memory:").await.unwrap();
    db.execute_script(common::blog_ddl(common::Kind::Sqlite))
        .await
        .unwrap();
    let reg = blog();
    let item = || vec![json!({"id": 1, "name": "A"})];
    let cases: Vec<(Verb, Options, &str, &str)> = vec![
        (
            Verb::Upsert,
            Options::default().chunk_size(0),
            "chunk_size",
            "at least 1",
        ),
        (
            Verb::Upsert,
            Options::default().max_concurrency(0),
            "max_concurrency",
            "at least 1",
        ),
        (
            Verb::Insert,
            Options::default().replace_all_except(["name"]),
            "replace_all_except",
            "only applies to an upsert",
        ),
        (
            Verb::Upsert,
            Options::default().on_conflict("Nope", ConflictAction::Nothing),
            "on_conflict",
            "posts_tags",
        ),
        (
            Verb::Upsert,
            Options::default().on_conflict("Post", ConflictAction::Replace(vec!["nope".into()])),
            "on_conflict",
            "no field `nope`",
        ),
        (
            Verb::Upsert,
            Options::default().placeholder("Post", "nope", json!(1)),
            "placeholders",
            "no field `nope`",
        ),
        (
            Verb::Upsert,
            Options::default().placeholder("Post", "title", json!(1)),
            "placeholders",
            "not a valid `string`",
        ),
        (
            Verb::Upsert,
            Options::default().recover("Author", "posts", json!([])),
            "recover_changeset_errors",
            "never recoverable",
        ),
        (
            Verb::Upsert,
            Options::default().conflict_target("Tag", ["nope"]),
            "conflict_target",
            "no column `nope`",
        ),
    ];
    for (verb, opts, name, fragment) in cases {
        let r = bulkinup::write(&db, &reg, "Author", verb, item(), &opts).await;
        let err = r.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidOption { name: n, .. } if n == name),
            "{name}: {err}"
        );
        assert!(err.to_string().contains(fragment), "{name}: {err}");
        assert_eq!(err.exit_code(), 2);
    }
    let rows = db
        .fetch_json("SELECT COUNT(*) AS n FROM authors")
        .await
        .unwrap();
    assert_eq!(rows[0]["n"], json!(0));
}
