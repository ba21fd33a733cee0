//! README, "Beyond Bulkinup": foreign-key inference, nested belongs_to, timestamps — on
//! SQLite, PostgreSQL and MySQL/MariaDB.

mod common;

use bulkinup::{Options, Registry};
use common::{Kind, TestDb};
use pretty_assertions::assert_eq;
use serde_json::{Value as J, json};

on_every_database!(blog:
    infer_foreign_keys_loads_a_tree_without_child_foreign_keys,
    without_infer_foreign_keys_children_without_foreign_keys_are_invalid,
    infer_foreign_keys_keeps_a_given_value,
    write_belongs_to_writes_the_category_before_the_post,
    timestamps_are_set_and_inserted_at_is_kept_across_an_upsert,
);

/// A tree with no foreign keys in the children.
fn tree(id: i64) -> J {
    json!({"id": id, "name": "A", "profile": {"id": id, "bio": "b"},
        "posts": [{"id": id * 10, "title": "t", "comments": [{"id": id * 100, "body": "c"}, {"id": id * 100 + 1, "body": "d"}]}]})
}

async fn infer_foreign_keys_loads_a_tree_without_child_foreign_keys(t: &TestDb) {
    let opts = Options::default().infer_foreign_keys(true);
    let s = bulkinup::upsert(
        &t.db,
        &common::blog(),
        "Author",
        vec![tree(1), tree(2)],
        &opts,
    )
    .await
    .unwrap();
    assert_eq!((s.written, s.skipped), (2, 0));
    assert_eq!(
        t.column("SELECT author_id FROM posts ORDER BY id").await,
        vec![json!(1), json!(2)]
    );
    assert_eq!(
        t.column("SELECT author_id FROM profiles ORDER BY id").await,
        vec![json!(1), json!(2)]
    );
    assert_eq!(
        t.column("SELECT post_id FROM comments ORDER BY id").await,
        vec![json!(10), json!(10), json!(20), json!(20)]
    );
}

async fn without_infer_foreign_keys_children_without_foreign_keys_are_invalid(t: &TestDb) {
    let s = bulkinup::upsert(
        &t.db,
        &common::blog(),
        "Author",
        vec![tree(1)],
        &Options::default(),
    )
    .await
    .unwrap();
    assert_eq!((s.written, s.skipped), (0, 1));
    assert_eq!(t.count("authors").await, 0);
}

async fn infer_foreign_keys_keeps_a_given_value(t: &TestDb) {
    bulkinup::upsert(
        &t.db,
        &common::blog(),
        "Author",
        vec![json!({"id": 7, "name": "other"})],
        &Options::default(),
    )
    .await
    .unwrap();
    let item = json!({"id": 1, "name": "A", "posts": [{"id": 1, "title": "mine"}, {"id": 2, "author_id": 7, "title": "given"}]});
    let opts = Options::default().infer_foreign_keys(true);
    bulkinup::upsert(&t.db, &common::blog(), "Author", vec![item], &opts)
        .await
        .unwrap();
    assert_eq!(
        t.column("SELECT author_id FROM posts ORDER BY id").await,
        vec![json!(1), json!(7)]
    );
}

async fn write_belongs_to_writes_the_category_before_the_post(t: &TestDb) {
    // posts.category_id references categories(id): the category must be written first.
    let item = json!({"id": 1, "name": "A", "posts": [
        {"id": 1, "author_id": 1, "title": "t", "category": {"id": 5, "name": "new"}},
        {"id": 2, "author_id": 1, "title": "u", "category": {"id": 5, "name": "new"}}
    ]});
    let opts = Options::default().write_belongs_to(true);
    let s = bulkinup::upsert(&t.db, &common::blog(), "Author", vec![item], &opts)
        .await
        .unwrap();
    assert_eq!(s.rows["categories"], 1);
    assert_eq!(
        t.column("SELECT name FROM categories").await,
        vec![json!("new")]
    );
    assert_eq!(
        t.column("SELECT category_id FROM posts ORDER BY id").await,
        vec![json!(5), json!(5)]
    );
}

const TIMESTAMPED_TAGS: &str = r#"
[schemas.Tag]
source = "tags"
timestamps = true
fields = { id = "integer", name = "string", inserted_at = "utc_datetime_usec", updated_at = "utc_datetime_usec" }
[schemas.Tag.changesets.changeset]
cast = ["id", "name"]
required = ["id", "name"]
"#;

async fn timestamps_are_set_and_inserted_at_is_kept_across_an_upsert(t: &TestDb) {
    let ty = match t.kind {
        Kind::Sqlite => "TEXT",
        Kind::Postgres => "TIMESTAMP(6)",
        Kind::MySql => "DATETIME(6)",
    };
    t.db.execute_script(&format!("ALTER TABLE tags ADD COLUMN inserted_at {ty}"))
        .await
        .unwrap();
    t.db.execute_script(&format!("ALTER TABLE tags ADD COLUMN updated_at {ty}"))
        .await
        .unwrap();
    let reg = Registry::from_toml_str(TIMESTAMPED_TAGS, "tags.toml")
        .unwrap()
        .registry;
    let tags = |name: &str| {
        vec![
            json!({"id": 1, "name": name}),
            json!({"id": 2, "name": name}),
        ]
    };
    bulkinup::upsert(&t.db, &reg, "Tag", tags("a"), &Options::default())
        .await
        .unwrap();
    let first = t
        .rows("SELECT inserted_at, updated_at FROM tags ORDER BY id")
        .await;
    // One clock reading per call: every row and both fields carry the same instant.
    assert_eq!(first[0]["inserted_at"], first[0]["updated_at"]);
    assert_eq!(first[0]["inserted_at"], first[1]["inserted_at"]);
    assert!(!first[0]["inserted_at"].is_null());
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    bulkinup::upsert(&t.db, &reg, "Tag", tags("b"), &Options::default())
        .await
        .unwrap();
    let second = t
        .rows("SELECT name, inserted_at, updated_at FROM tags ORDER BY id")
        .await;
    assert_eq!(second[0]["name"], json!("b"));
    assert_eq!(
        second[0]["inserted_at"], first[0]["inserted_at"],
        "inserted_at kept on conflict"
    );
    assert_ne!(
        second[0]["updated_at"], first[0]["updated_at"],
        "updated_at replaced"
    );
}
