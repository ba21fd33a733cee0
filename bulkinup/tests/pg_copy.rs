//! PostgreSQL's binary `COPY` of plain inserts (README, "What one call does"): one `COPY` per
//! table and chunk where every column has the type its values are bound as, `unnest` for
//! any other table, for upserts and with the URL's `bulkinup_copy=off`; the rows are the
//! same either way.

mod common;

use bulkinup::{Db, Item, Options, Registry};
use common::{Kind, TestDb};
use serde_json::{Value as J, json};

const SCHEMA: &str = r#"
[schemas.Thing]
source = "things"
fields = { id = "integer", label = "string", data = "map", at = "utc_datetime_usec", price = "decimal", flag = "boolean", uid = "binary_id", day = "date" }
[schemas.Thing.associations]
notes = { kind = "has_many", related = "Note" }
[schemas.Thing.changesets.changeset]
cast = ["id", "label", "data", "at", "price", "flag", "uid", "day"]
required = ["id"]
cast_assoc = ["notes"]

[schemas.Note]
source = "notes"
fields = { id = "integer", thing_id = "integer", body = "string" }
[schemas.Note.changesets.changeset]
cast = ["id", "thing_id", "body"]
required = ["id"]
"#;

fn registry() -> Registry {
    Registry::from_toml_str(SCHEMA, "things.toml")
        .expect("the schema loads")
        .registry
}

/// The tables; `note_id` is the SQL type of `notes.id`.
async fn tables(db: &Db, note_id: &str) {
    db.execute_script(&format!(
        "CREATE TABLE things (id BIGINT PRIMARY KEY, label VARCHAR(20), data JSONB,
             at TIMESTAMPTZ, price NUMERIC, flag BOOLEAN, uid UUID, day DATE);
         CREATE TABLE notes (id {note_id} PRIMARY KEY, thing_id BIGINT NOT NULL REFERENCES things (id),
             body TEXT);"
    ))
    .await
    .expect("the tables");
}

/// Two things, each with three notes (one without a body).
fn items() -> Vec<Item> {
    (1..=2)
        .map(|i| {
            Item::from(json!({
                "id": i, "label": format!("thing {i}"), "data": {"n": i, "tags": ["a", "b"]},
                "at": "2026-12-01T10:20:30.123456Z", "price": "12.50", "flag": i == 1,
                "uid": "8c7e4a52-5a1f-4a3e-9a43-0d6b2b1f7c11", "day": "2026-12-01",
                "notes": (0..3).map(|n| json!({"id": i * 10 + n, "thing_id": i,
                    "body": if n == 2 { J::Null } else { json!(format!("note {n}")) }})).collect::<Vec<_>>()
            }))
        })
        .collect()
}

/// Every row of both tables, as text.
async fn contents(t: &TestDb) -> (Vec<J>, Vec<J>) {
    let things = t
        .column(
            "SELECT concat_ws('|', id, label, data::text, at::text, price, flag, uid, day) FROM things ORDER BY id",
        )
        .await;
    let notes = t
        .column(
            "SELECT concat_ws('|', id, thing_id, coalesce(body, 'NULL')) FROM notes ORDER BY id",
        )
        .await;
    (things, notes)
}

fn expected() -> (Vec<J>, Vec<J>) {
    let things = (1..=2)
        .map(|i| {
            json!(format!(
                "{i}|thing {i}|{{\"n\": {i}, \"tags\": [\"a\", \"b\"]}}|2026-12-01 10:20:30.123456+00|12.50|{}|8c7e4a52-5a1f-4a3e-9a43-0d6b2b1f7c11|2026-12-01",
                if i == 1 { "t" } else { "f" }
            ))
        })
        .collect();
    let notes = (1..=2)
        .flat_map(|i| {
            (0..3).map(move |n| {
                let body = if n == 2 {
                    "NULL".to_string()
                } else {
                    format!("note {n}")
                };
                json!(format!("{}|{i}|{body}", i * 10 + n))
            })
        })
        .collect();
    (things, notes)
}

/// `chunk_size` 2: the chunk's six notes are three `unnest` statements, or one `COPY`.
fn options() -> Options {
    Options::default().chunk_size(2)
}

#[tokio::test]
async fn a_plain_insert_is_one_copy_per_table_and_chunk_with_every_value_as_written() {
    let Some(t) = TestDb::empty(Kind::Postgres).await else {
        return;
    };
    tables(&t.db, "BIGINT").await;
    let s = bulkinup::insert(&t.db, &registry(), "Thing", items(), &options())
        .await
        .expect("insert");
    assert_eq!(s.statements.get("notes"), Some(&1));
    assert_eq!(s.rows.get("notes"), Some(&6));
    assert_eq!(contents(&t).await, expected());
    t.cleanup().await;
}

#[tokio::test]
async fn bulkinup_copy_off_writes_the_same_rows_with_unnest() {
    let Some(t) = TestDb::empty(Kind::Postgres).await else {
        return;
    };
    tables(&t.db, "BIGINT").await;
    let sep = if t.url.contains('?') { '&' } else { '?' };
    let db = Db::connect(&format!("{}{sep}bulkinup_copy=off", t.url))
        .await
        .expect("connect");
    let s = bulkinup::insert(&db, &registry(), "Thing", items(), &options())
        .await
        .expect("insert");
    db.close().await;
    assert_eq!(s.statements.get("notes"), Some(&3));
    assert_eq!(contents(&t).await, expected());
    t.cleanup().await;
}

#[tokio::test]
async fn a_column_of_another_type_than_its_values_is_written_with_unnest() {
    let Some(t) = TestDb::empty(Kind::Postgres).await else {
        return;
    };
    // `notes.id` is `integer`, its values `int8`: no binary COPY into it.
    tables(&t.db, "INTEGER").await;
    let s = bulkinup::insert(&t.db, &registry(), "Thing", items(), &options())
        .await
        .expect("insert");
    assert_eq!(s.statements.get("notes"), Some(&3));
    assert_eq!(s.statements.get("things"), Some(&1));
    assert_eq!(contents(&t).await, expected());
    t.cleanup().await;
}

#[tokio::test]
async fn an_upsert_is_not_a_copy() {
    let Some(t) = TestDb::empty(Kind::Postgres).await else {
        return;
    };
    tables(&t.db, "BIGINT").await;
    let s = bulkinup::upsert(&t.db, &registry(), "Thing", items(), &options())
        .await
        .expect("upsert");
    assert_eq!(s.statements.get("notes"), Some(&3));
    assert_eq!(contents(&t).await, expected());
    t.cleanup().await;
}
