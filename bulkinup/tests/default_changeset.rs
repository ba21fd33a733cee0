//! Less to write (docs/schema-file.md, "Changesets"): a schema without any changeset gets a
//! default `changeset` that casts every field, association and embed and validates nothing,
//! and `cast = "*"` casts every field. On every database.

mod common;

use bulkinup::{Options, Registry};
use common::TestDb;
use serde_json::json;

on_every_database!(blog:
    schemas_without_changesets_write_every_field_child_link_and_embed,
    cast_star_casts_every_field_and_keeps_the_validations,
);

/// The blog of `examples/blog/schema.toml` without a single changeset.
const NO_CHANGESETS: &str = r#"
[schemas.Author]
source = "authors"
fields = { id = "integer", name = "string", phone_number = "string" }
[schemas.Author.associations]
posts   = { kind = "has_many", related = "Post" }
profile = { kind = "has_one", related = "Profile", foreign_key = "author_id" }
address = { kind = "embeds_one", related = "Address" }

[schemas.Post]
source = "posts"
fields = { id = "integer", author_id = "integer", title = "string" }
[schemas.Post.associations]
category = { kind = "belongs_to", related = "Category" }
tags     = { kind = "many_to_many", related = "Tag", join_through = "posts_tags", join_keys = [["post_id", "id"], ["tag_id", "id"]] }

[schemas.Profile]
source = "profiles"
fields = { id = "integer", author_id = "integer", bio = "string" }

[schemas.Category]
source = "categories"
fields = { id = "integer", name = "string" }

[schemas.Tag]
source = "tags"
fields = { id = "integer", name = "string" }

[schemas.Address]
embedded = true
primary_key = []
fields = { street = "string", city = "string" }
"#;

async fn schemas_without_changesets_write_every_field_child_link_and_embed(t: &TestDb) {
    let registry = Registry::from_toml_str(NO_CHANGESETS, "blog.toml")
        .expect("a schema file without changesets loads")
        .registry;
    t.db.execute_script("INSERT INTO categories (id, name) VALUES (1, 'c')")
        .await
        .unwrap();
    let item = json!({
        "id": 1, "name": "Alice", "phone_number": "555-0001",
        "address": {"street": "1 Main St", "city": "Springfield"},
        "profile": {"id": 7, "author_id": 1, "bio": "hi"},
        "posts": [{"id": 10, "author_id": 1, "title": "t", "category_id": 1,
                   "tags": [{"id": 3, "name": "rust"}]}]
    });
    let s = bulkinup::upsert(&t.db, &registry, "Author", [item], &Options::default())
        .await
        .unwrap();
    assert_eq!((s.written, s.skipped), (1, 0));
    let authors = t.rows("SELECT id, name, phone_number FROM authors").await;
    assert_eq!(
        serde_json::Value::from(authors),
        json!([{"id": 1, "name": "Alice", "phone_number": "555-0001"}])
    );
    assert_eq!(
        t.column("SELECT category_id FROM posts").await,
        vec![json!(1)]
    );
    assert_eq!(
        t.column("SELECT bio FROM profiles").await,
        vec![json!("hi")]
    );
    assert_eq!(t.column("SELECT name FROM tags").await, vec![json!("rust")]);
    assert_eq!(t.post_tag_links().await.len(), 1);
    let city = t.column("SELECT address FROM authors").await;
    assert!(city[0].to_string().contains("Springfield"), "{city:?}");
    // Nothing is validated: an author without a name passes the changeset (and the
    // database, whose column is NOT NULL, refuses it).
    let e = bulkinup::upsert(
        &t.db,
        &registry,
        "Author",
        [json!({"id": 2})],
        &Options::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.table(), Some("authors"), "{e}");
}

async fn cast_star_casts_every_field_and_keeps_the_validations(t: &TestDb) {
    let text = r#"
[schemas.Tag]
source = "tags"
fields = { id = "integer", name = "string" }
[schemas.Tag.changesets.changeset]
cast = "*"
required = ["id", "name"]
"#;
    let registry = Registry::from_toml_str(text, "tags.toml").unwrap().registry;
    let s = bulkinup::upsert(
        &t.db,
        &registry,
        "Tag",
        [json!({"id": 1, "name": "a"}), json!({"id": 2})],
        &Options::default(),
    )
    .await
    .unwrap();
    assert_eq!((s.written, s.skipped), (1, 1));
    assert_eq!(t.column("SELECT name FROM tags").await, vec![json!("a")]);
}
