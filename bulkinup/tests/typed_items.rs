//! Items of any `serde::Serialize` type (`bulkinup::IntoItem`): typed structs, nested
//! children included, go through `upsert`/`insert` like JSON values. On every database.

mod common;

use std::collections::HashMap;

use bulkinup::{Error, Item, Options};
use common::TestDb;
use serde::Serialize;
use serde_json::json;

on_every_database!(blog:
    typed_structs_are_written_with_their_children_links_and_embeds,
    a_typed_value_that_is_not_an_object_is_skipped_as_invalid,
    a_value_that_cannot_be_serialized_is_malformed_input_and_writes_nothing,
    json_values_and_items_still_go_through,
);

#[derive(Serialize)]
struct Author {
    id: i64,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<String>,
    posts: Vec<Post>,
    address: Option<Address>,
}

#[derive(Serialize)]
struct Post {
    id: i64,
    author_id: i64,
    #[serde(rename = "title")]
    headline: String,
    tags: Vec<Tag>,
    comments: Vec<Comment>,
}

#[derive(Serialize)]
struct Comment {
    id: i64,
    post_id: i64,
    body: &'static str,
}

#[derive(Serialize)]
struct Tag {
    id: i64,
    name: String,
}

#[derive(Serialize)]
struct Address {
    street: String,
    city: String,
}

fn authors() -> Vec<Author> {
    vec![
        Author {
            id: 1,
            name: "Alice".into(),
            phone_number: Some("555-0001".into()),
            address: Some(Address {
                street: "1 Main St".into(),
                city: "Springfield".into(),
            }),
            posts: vec![Post {
                id: 10,
                author_id: 1,
                headline: "Hello".into(),
                tags: vec![
                    Tag {
                        id: 1,
                        name: "rust".into(),
                    },
                    Tag {
                        id: 2,
                        name: "sql".into(),
                    },
                ],
                comments: vec![Comment {
                    id: 100,
                    post_id: 10,
                    body: "first",
                }],
            }],
        },
        Author {
            id: 2,
            name: "Bob".into(),
            phone_number: None,
            address: None,
            posts: Vec::new(),
        },
    ]
}

async fn typed_structs_are_written_with_their_children_links_and_embeds(t: &TestDb) {
    let s = bulkinup::upsert(
        &t.db,
        &common::blog(),
        "Author",
        authors(),
        &Options::default(),
    )
    .await
    .expect("typed structs upsert");
    assert_eq!((s.written, s.skipped), (2, 0));
    assert_eq!(
        serde_json::Value::from(
            t.rows("SELECT id, name, phone_number FROM authors ORDER BY id")
                .await
        ),
        json!([
            {"id": 1, "name": "Alice", "phone_number": "555-0001"},
            {"id": 2, "name": "Bob", "phone_number": null}
        ])
    );
    assert_eq!(
        serde_json::Value::from(t.rows("SELECT id, author_id, title FROM posts").await),
        json!([{"id": 10, "author_id": 1, "title": "Hello"}])
    );
    assert_eq!(
        t.column("SELECT body FROM comments").await,
        vec![json!("first")]
    );
    assert_eq!(
        t.column("SELECT name FROM tags ORDER BY id").await,
        vec![json!("rust"), json!("sql")]
    );
    assert_eq!(
        t.post_tag_links().await,
        vec![json!([10, 1]), json!([10, 2])]
    );
    let address = t
        .column("SELECT address FROM authors WHERE id = 1")
        .await
        .remove(0);
    let address: serde_json::Value = match address {
        serde_json::Value::String(text) => serde_json::from_str(&text).expect("JSON text"),
        other => other,
    };
    assert_eq!(
        address,
        json!({"street": "1 Main St", "city": "Springfield"})
    );
}

async fn a_typed_value_that_is_not_an_object_is_skipped_as_invalid(t: &TestDb) {
    let s = bulkinup::upsert(
        &t.db,
        &common::blog(),
        "Tag",
        vec![7_i64, 8_i64],
        &Options::default(),
    )
    .await
    .expect("the call itself succeeds");
    assert_eq!((s.written, s.skipped), (0, 2));
    assert_eq!(t.count("tags").await, 0);
}

async fn a_value_that_cannot_be_serialized_is_malformed_input_and_writes_nothing(t: &TestDb) {
    // A map with tuple keys has no JSON form.
    let mut bad: HashMap<(i64, i64), &str> = HashMap::new();
    bad.insert((1, 2), "x");
    #[derive(Serialize)]
    #[serde(untagged)]
    enum Either {
        Good { id: i64, name: &'static str },
        Bad(HashMap<(i64, i64), &'static str>),
    }
    let e = bulkinup::upsert(
        &t.db,
        &common::blog(),
        "Tag",
        vec![Either::Good { id: 1, name: "a" }, Either::Bad(bad)],
        &Options::default(),
    )
    .await
    .expect_err("an item that cannot be serialized fails the call");
    match &e {
        Error::Input { line, message, .. } => {
            assert_eq!(*line, Some(2), "{e}");
            assert!(message.contains("cannot be serialized"), "{e}");
        }
        other => panic!("expected Error::Input, got {other:?}"),
    }
    assert_eq!(t.count("tags").await, 0, "rolled back");
}

async fn json_values_and_items_still_go_through(t: &TestDb) {
    let registry = common::blog();
    bulkinup::upsert(
        &t.db,
        &registry,
        "Tag",
        [json!({"id": 1, "name": "a"})],
        &Options::default(),
    )
    .await
    .expect("a JSON value");
    bulkinup::upsert(
        &t.db,
        &registry,
        "Tag",
        [Item::from(json!({"id": 2, "name": "b"}))],
        &Options::default(),
    )
    .await
    .expect("an Item");
    assert_eq!(
        t.column("SELECT name FROM tags ORDER BY id").await,
        vec![json!("a"), json!("b")]
    );
}
