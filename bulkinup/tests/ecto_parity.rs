//! Ecto parity: association `defaults`, `join_defaults` and schema prefixes (Ecto's
//! `@schema_prefix` and the `prefix` option), on every database.

mod common;

use bulkinup::{Error, Options, Registry};
use common::{Kind, TestDb, count_in};
use serde_json::{Value as J, json};

on_every_database!(empty:
    association_defaults_satisfy_required_and_attrs_that_are_cast_override_them,
    defaults_belong_to_the_association_not_to_the_table,
    join_rows_carry_the_join_defaults_and_the_calls_clock,
    placeholders_of_the_join_table_win_over_join_defaults,
    the_prefix_option_writes_every_table_there_and_the_default_tables_stay_empty,
    a_schema_prefix_writes_its_table_and_its_join_table_there,
    a_prefix_that_does_not_exist_is_an_error_before_anything_is_written,
);

/// The test schema: articles with notes (association defaults) and labels through a join
/// table with two columns beyond its keys (join defaults). `{PREFIX}` is replaced by a
/// `prefix = "…"` line for the Article schema, or by nothing.
const SCHEMA: &str = r#"
[schemas.Article]
source = "articles"
{PREFIX}
fields = { id = "integer", title = "string" }

[schemas.Article.associations]
notes = { kind = "has_many", related = "Note", defaults = { public = true, kind = "note" } }
labels = { kind = "many_to_many", related = "Label", join_through = "article_labels", join_keys = [["article_id", "id"], ["label_id", "id"]], join_defaults = { role = "tag", inserted_at = "now()" } }

[schemas.Article.changesets.changeset]
cast = ["id", "title"]
required = ["id", "title"]
cast_assoc = ["notes", "labels"]

[schemas.Note]
source = "notes"
fields = { id = "integer", article_id = "integer", body = "string", public = "boolean", kind = "string" }

[schemas.Note.changesets.changeset]
cast = ["id", "article_id", "body", "public"]
required = ["id", "article_id", "body", "public", "kind"]

[schemas.Label]
source = "labels"
fields = { id = "integer", name = "string" }

[schemas.Label.changesets.changeset]
cast = ["id", "name"]
required = ["id", "name"]
"#;

fn registry(prefix: Option<&str>) -> Registry {
    let line = prefix.map_or(String::new(), |p| format!("prefix = \"{p}\""));
    Registry::from_toml_str(&SCHEMA.replace("{PREFIX}", &line), "ecto.toml")
        .expect("the test schema loads")
        .registry
}

/// The test tables, in `prefix` (a PostgreSQL schema, MySQL database or attached SQLite
/// database) or in the default one. SQLite's foreign keys cannot name another database, so
/// their references stay unqualified there (they resolve inside the same database). Without
/// `fks`, the tables have no foreign keys (for rows whose parents are in the other place).
fn ddl(kind: Kind, prefix: Option<&str>, fks: bool) -> String {
    let q = |t: &str| prefix.map_or(t.to_string(), |p| format!("{p}.{t}"));
    let r = |t: &str| match (kind, fks) {
        (_, false) => String::new(),
        (Kind::Sqlite, true) => format!(" REFERENCES {t}(id)"),
        (_, true) => format!(" REFERENCES {}(id)", q(t)),
    };
    format!(
        "CREATE TABLE {articles} (id BIGINT PRIMARY KEY, title VARCHAR(100) NOT NULL);
         CREATE TABLE {notes} (id BIGINT PRIMARY KEY, article_id BIGINT NOT NULL {r_articles},
             body VARCHAR(100) NOT NULL, public BOOLEAN NOT NULL, kind VARCHAR(20) NOT NULL);
         CREATE TABLE {labels} (id BIGINT PRIMARY KEY, name VARCHAR(50) NOT NULL);
         CREATE TABLE {article_labels} (article_id BIGINT NOT NULL {r_articles},
             label_id BIGINT NOT NULL {r_labels}, role VARCHAR(20) NOT NULL,
             inserted_at TIMESTAMP NOT NULL, PRIMARY KEY (article_id, label_id));",
        articles = q("articles"),
        notes = q("notes"),
        labels = q("labels"),
        article_labels = q("article_labels"),
        r_articles = r("articles"),
        r_labels = r("labels"),
    )
}

/// Booleans as every database returns them (MySQL: 0/1).
fn boolean(v: &J) -> bool {
    v.as_bool().unwrap_or_else(|| v.as_i64() == Some(1))
}

fn articles() -> Vec<J> {
    vec![json!({
        "id": 1, "title": "First",
        "notes": [
            {"id": 1, "article_id": 1, "body": "uses every default"},
            {"id": 2, "article_id": 1, "body": "overrides public", "public": false},
            {"id": 3, "article_id": 1, "body": "kind is not cast", "kind": "ignored"}
        ],
        "labels": [{"id": 1, "name": "sql"}, {"id": 2, "name": "rust"}]
    })]
}

async fn association_defaults_satisfy_required_and_attrs_that_are_cast_override_them(t: &TestDb) {
    t.db.execute_script(&ddl(t.kind, None, true)).await.unwrap();
    let s = bulkinup::upsert(
        &t.db,
        &registry(None),
        "Article",
        articles(),
        &Options::default(),
    )
    .await
    .unwrap();
    assert_eq!((s.written, s.skipped), (1, 0));
    let rows = t
        .rows("SELECT id, public, kind FROM notes ORDER BY id")
        .await;
    let got: Vec<(i64, bool, String)> = rows
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().unwrap(),
                boolean(&r["public"]),
                r["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, true, "note".to_string()),
            (2, false, "note".to_string()),
            (3, true, "note".to_string())
        ]
    );
}

async fn defaults_belong_to_the_association_not_to_the_table(t: &TestDb) {
    t.db.execute_script(&ddl(t.kind, None, true)).await.unwrap();
    t.db.execute_script("INSERT INTO articles (id, title) VALUES (1, 'x')")
        .await
        .unwrap();
    // A note upserted as a root item is not built through `Article.notes`: no defaults, so
    // `public` and `kind` are blank and the item is skipped.
    let items = vec![json!({"id": 9, "article_id": 1, "body": "alone"})];
    let s = bulkinup::upsert(&t.db, &registry(None), "Note", items, &Options::default())
        .await
        .unwrap();
    assert_eq!((s.written, s.skipped), (0, 1));
    assert_eq!(t.count("notes").await, 0);
}

async fn join_rows_carry_the_join_defaults_and_the_calls_clock(t: &TestDb) {
    t.db.execute_script(&ddl(t.kind, None, true)).await.unwrap();
    let clock = chrono::DateTime::parse_from_rfc3339("2024-05-06T07:08:09Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let s = bulkinup::upsert(
        &t.db,
        &registry(None),
        "Article",
        articles(),
        &Options::default().now(clock),
    )
    .await
    .unwrap();
    assert_eq!(s.rows["article_labels"], 2);
    let rows = t
        .rows("SELECT label_id, role, inserted_at FROM article_labels ORDER BY label_id")
        .await;
    assert_eq!(rows.len(), 2);
    for (row, label) in rows.iter().zip([1, 2]) {
        assert_eq!(row["label_id"], json!(label));
        assert_eq!(row["role"], json!("tag"));
        let at = row["inserted_at"].as_str().unwrap_or_default();
        assert!(
            at.starts_with("2024-05-06") && at.contains("07:08:09"),
            "inserted_at is the call's clock reading: {at}"
        );
    }
}

async fn placeholders_of_the_join_table_win_over_join_defaults(t: &TestDb) {
    t.db.execute_script(&ddl(t.kind, None, true)).await.unwrap();
    let options = Options::default().placeholder("article_labels", "role", json!("curated"));
    bulkinup::upsert(&t.db, &registry(None), "Article", articles(), &options)
        .await
        .unwrap();
    let roles = t
        .column("SELECT role FROM article_labels ORDER BY label_id")
        .await;
    assert_eq!(roles, [json!("curated"), json!("curated")]);
}

/// Creates the test tables in the default place and in a second prefix, and returns that
/// prefix with a connection on which it exists.
async fn tables_here_and_there(t: &TestDb, fks: bool) -> (String, bulkinup::Db) {
    let (prefix, db) = t.second_prefix().await;
    db.execute_script(&ddl(t.kind, None, fks)).await.unwrap();
    db.execute_script(&ddl(t.kind, Some(&prefix), fks))
        .await
        .unwrap();
    (prefix, db)
}

async fn the_prefix_option_writes_every_table_there_and_the_default_tables_stay_empty(t: &TestDb) {
    let (prefix, db) = tables_here_and_there(t, true).await;
    let s = bulkinup::upsert(
        &db,
        &registry(None),
        "Article",
        articles(),
        &Options::default().prefix(&prefix),
    )
    .await
    .unwrap();
    assert_eq!(s.rows[&format!("{prefix}.articles")], 1);
    for (table, n) in [
        ("articles", 1),
        ("notes", 3),
        ("labels", 2),
        ("article_labels", 2),
    ] {
        assert_eq!(
            count_in(&db, &format!("{prefix}.{table}")).await,
            n,
            "{table}"
        );
        assert_eq!(count_in(&db, table).await, 0, "default {table}");
    }
    db.close().await;
}

async fn a_schema_prefix_writes_its_table_and_its_join_table_there(t: &TestDb) {
    // Only Article has the prefix: its join table follows it; notes and labels do not (so
    // their rows point across places, and the tables have no foreign keys).
    let (prefix, db) = tables_here_and_there(t, false).await;
    bulkinup::upsert(
        &db,
        &registry(Some(&prefix)),
        "Article",
        articles(),
        &Options::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(count_in(&db, &format!("{prefix}.articles")).await, 1);
    assert_eq!(count_in(&db, "articles").await, 0);
    assert_eq!(count_in(&db, &format!("{prefix}.article_labels")).await, 2);
    assert_eq!(count_in(&db, "article_labels").await, 0);
    assert_eq!(count_in(&db, "labels").await, 2);
    assert_eq!(count_in(&db, &format!("{prefix}.labels")).await, 0);
    assert_eq!(count_in(&db, "notes").await, 3);
    db.close().await;
}

async fn a_prefix_that_does_not_exist_is_an_error_before_anything_is_written(t: &TestDb) {
    t.db.execute_script(&ddl(t.kind, None, true)).await.unwrap();
    let err = bulkinup::upsert(
        &t.db,
        &registry(None),
        "Article",
        articles(),
        &Options::default().prefix("no_such_prefix"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidOption { name, .. } if name == "prefix"),
        "{err}"
    );
    assert!(err.to_string().contains("no_such_prefix"), "{err}");
    assert_eq!(err.exit_code(), 2);
    let err = bulkinup::upsert(
        &t.db,
        &registry(Some("no_such_prefix")),
        "Article",
        articles(),
        &Options::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::Schema { schema: Some(s), key: Some(k), .. } if s == "Article" && k == "prefix"),
        "{err}"
    );
    assert_eq!(t.count("articles").await, 0);
}

// ---------------------------------------------------------------------------------------
// Bad schema files: exit 2 before anything is written, naming the association and key.

fn load_err(from: &str, to: &str) -> String {
    let text = SCHEMA.replace("{PREFIX}", "").replace(from, to);
    assert_ne!(
        text,
        SCHEMA.replace("{PREFIX}", ""),
        "the replacement applies"
    );
    match Registry::from_toml_str(&text, "ecto.toml") {
        Ok(_) => panic!("`{to}` loads"),
        Err(e) => {
            assert_eq!(e.exit_code(), 2);
            e.to_string()
        }
    }
}

#[test]
fn a_default_for_a_field_the_related_schema_lacks_names_the_association_and_key() {
    let e = load_err("defaults = { public = true", "defaults = { publik = true");
    assert!(e.contains("notes") && e.contains("publik"), "{e}");
    assert!(e.contains("ecto.toml:"), "with its position: {e}");
}

#[test]
fn a_default_that_does_not_cast_is_an_error() {
    let e = load_err("public = true,", "public = \"maybe\",");
    assert!(e.contains("public") && e.contains("boolean"), "{e}");
}

#[test]
fn now_on_a_field_that_is_not_a_datetime_is_an_error() {
    let e = load_err("kind = \"note\" }", "kind = \"now()\" }");
    assert!(e.contains("now()") && e.contains("kind"), "{e}");
}

#[test]
fn a_join_default_for_a_join_key_is_an_error() {
    let e = load_err("role = \"tag\"", "label_id = 3");
    assert!(e.contains("label_id") && e.contains("join key"), "{e}");
}

#[test]
fn join_defaults_on_a_has_many_is_an_error() {
    let e = load_err(
        "defaults = { public = true, kind = \"note\" }",
        "join_defaults = { x = 1 }",
    );
    assert!(e.contains("join_defaults") && e.contains("has_many"), "{e}");
}

#[test]
fn an_empty_prefix_is_an_error() {
    let text = SCHEMA.replace("{PREFIX}", "prefix = \"\"");
    let e = Registry::from_toml_str(&text, "ecto.toml").unwrap_err();
    assert!(e.to_string().contains("prefix"), "{e}");
}

#[test]
fn defaults_given_in_code_work_like_the_file() {
    use bulkinup::{AssocDef, AssocKind, ChangesetDef, FieldType, SchemaDef};
    let registry = Registry::builder()
        .schema(
            SchemaDef::new("Article")
                .source("articles")
                .field("id", FieldType::Integer)
                .assoc(
                    AssocDef::new("notes", AssocKind::HasMany, "Note")
                        .defaults([("public", json!(true))]),
                )
                .changeset(
                    "changeset",
                    ChangesetDef::new().cast(["id"]).cast_assoc("notes"),
                ),
        )
        .schema(
            SchemaDef::new("Note")
                .source("notes")
                .field("id", FieldType::Integer)
                .field("article_id", FieldType::Integer)
                .field("public", FieldType::Boolean)
                .changeset(
                    "changeset",
                    ChangesetDef::new()
                        .cast(["id", "article_id", "public"])
                        .required(["public"]),
                ),
        )
        .build()
        .unwrap();
    let cs = bulkinup::Changeset::cast(
        &registry,
        "Article",
        "changeset",
        &json!({"id": 1, "notes": [{"id": 1, "article_id": 1}, {"id": 2, "article_id": 1, "public": null}]}),
    )
    .unwrap();
    // The default satisfies `required`; an explicit null that is cast overrides it.
    assert_eq!(
        cs.errors_json(),
        json!({"notes": [{}, {"public": ["can't be blank"]}]})
    );
}
