//! `bulkinup schema ddl`: the statements printed for each database, and `--apply` of the
//! example blog on every database, followed by the upsert and the schema check.

mod common;

use common::{Dir, Kind, TestDb, blog_schema};
use serde_json::json;

fn schema() -> String {
    blog_schema().display().to_string()
}

on_every_database!(empty:
    the_blog_applied_takes_its_upsert_passes_the_check_and_applies_again,
    a_statement_the_database_refuses_exits_1_naming_the_database,
);

async fn the_blog_applied_takes_its_upsert_passes_the_check_and_applies_again(t: &TestDb) {
    let s = schema();
    let out = t.run(&["schema", "ddl", "--schema", &s, "--apply"]);
    out.assert_code(0).assert_stderr(&[
        "bulkinup: created 7 tables: authors, categories, posts, comments, profiles, tags, posts_tags",
    ]);
    assert!(
        out.stdout.contains("CREATE TABLE IF NOT EXISTS"),
        "{}",
        out.stdout
    );
    t.run(&["schema", "check", "--schema", &s]).assert_code(0);
    let categories = json!([{"id": 1, "name": "Databases"}]).to_string();
    t.run_stdin(
        &["upsert", "--schema", &s, "--root", "Category"],
        &categories,
    )
    .assert_code(0);
    let author = json!({"id": 1, "name": "Alice", "phone_number": "555-0001",
        "address": {"street": "1 Main St", "city": "Springfield"},
        "social_links": [{"label": "blog", "url": "https://alice.example"}],
        "profile": {"id": 1, "author_id": 1, "bio": "Databases"},
        "posts": [{"id": 1, "author_id": 1, "category_id": 1, "title": "Hello",
            "comments": [{"id": 1, "post_id": 1, "body": "First!"}],
            "tags": [{"id": 1, "name": "sql"}, {"id": 2, "name": "rust"}]}]});
    let out = t.run_stdin(
        &["upsert", "--schema", &s, "--root", "Author"],
        &author.to_string(),
    );
    out.assert_code(0);
    assert_eq!(out.json()["skipped"], json!(0), "{}", out.stdout);
    assert_eq!(t.count("authors").await, 1);
    assert_eq!(t.count("posts_tags").await, 2);
    assert_eq!(
        t.column("SELECT address FROM authors").await,
        [json!({"street": "1 Main St", "city": "Springfield"})]
    );
    // Again: nothing changes, the rows stay.
    t.run(&["schema", "ddl", "--schema", &s, "--apply"])
        .assert_code(0)
        .assert_stderr(&["bulkinup: created no table: every table existed"]);
    assert_eq!(t.count("comments").await, 1);
    t.run(&["schema", "check", "--schema", &s]).assert_code(0);
}

/// `schema ddl --apply` whose `CREATE TABLE posts` the database refuses: SQLite, for an
/// index already named `posts`; PostgreSQL and MariaDB, for a foreign key to an `authors`
/// that exists without a key on `id`. The failure names the database as an upsert's does,
/// its password hidden (the PostgreSQL test server trusts local connections, whatever the
/// password).
async fn a_statement_the_database_refuses_exits_1_naming_the_database(t: &TestDb) {
    let setup = match t.kind {
        Kind::Sqlite => "CREATE TABLE other (x INTEGER); CREATE INDEX posts ON other (x)",
        _ => "CREATE TABLE authors (id BIGINT)",
    };
    t.db.execute_script(setup).await.unwrap();
    let file = t.dir.write(
        "blog.toml",
        r#"
[schemas.Author]
source = "authors"
fields = { id = "id" }
associations.posts = { kind = "has_many", related = "Post" }
[schemas.Post]
source = "posts"
fields = { id = "id", author_id = "id" }
"#,
    );
    let url = match t.kind {
        Kind::Postgres => t.url.replacen("://postgres@", "://postgres:secret@", 1),
        _ => t.url.clone(),
    };
    let out = t.run_at(&url, &["schema", "ddl", "--schema", &file, "--apply"]);
    out.assert_code(1);
    assert!(
        out.stderr.starts_with("bulkinup: error: database error"),
        "{}",
        out.stderr
    );
    let database = format!("\ndatabase: {}\n", bulkinup::redact(&url));
    assert!(out.stderr.ends_with(&database), "{}", out.stderr);
    assert!(!out.stderr.contains("secret"), "{}", out.stderr);
    assert_eq!(out.stdout, "");
}

/// `schema ddl --schema FILE --database-url URL` in `dir`.
fn ddl(dir: &Dir, file: &str, url: &str) -> common::Out {
    dir.run(&["schema", "ddl", "--schema", file, "--database-url", url])
}

/// The statements printed for `url`'s database, without connecting.
fn printed(dir: &Dir, url: &str) -> String {
    let s = schema();
    let out = ddl(dir, &s, url);
    out.assert_code(0);
    out.stdout
}

#[test]
fn the_statements_for_each_database_are_printed_without_connecting() {
    // Nothing listens at these URLs: only the dialect is read from them.
    let dir = Dir::new();
    let pg = printed(&dir, "postgres://nobody@127.0.0.1:1/nothing");
    assert!(pg.contains("\"id\" int8 NOT NULL"), "{pg}");
    assert!(pg.contains("\"address\" jsonb"), "{pg}");
    assert!(pg.contains("\"inserted_at\" timestamptz"), "{pg}");
    assert!(
        pg.contains("FOREIGN KEY (\"author_id\") REFERENCES \"authors\" (\"id\")"),
        "{pg}"
    );
    assert!(pg.contains("PRIMARY KEY (\"post_id\", \"tag_id\")"), "{pg}");
    let mysql = printed(&dir, "mysql://nobody@127.0.0.1:1/nothing");
    assert!(mysql.contains("`name` LONGTEXT NOT NULL"), "{mysql}");
    assert!(mysql.contains("`social_links` JSON"), "{mysql}");
    assert!(mysql.contains("`inserted_at` DATETIME(6)"), "{mysql}");
    let sqlite = printed(&dir, "sqlite://unused.db");
    assert!(sqlite.contains("\"address\" TEXT"), "{sqlite}");
    // One statement per paragraph, each ending `;`; referenced tables first.
    for text in [&pg, &mysql, &sqlite] {
        let paragraphs: Vec<&str> = text.trim_end().split("\n\n").collect();
        assert_eq!(paragraphs.len(), 7, "{text}");
        assert!(paragraphs.iter().all(|p| p.ends_with(';')), "{text}");
        let at = |table: &str| {
            paragraphs
                .iter()
                .position(|p| {
                    p.contains(&format!("EXISTS \"{table}\""))
                        || p.contains(&format!("EXISTS `{table}`"))
                })
                .expect("the table is created")
        };
        assert!(
            at("authors") < at("posts") && at("posts") < at("comments"),
            "{text}"
        );
        assert!(
            at("categories") < at("posts") && at("tags") < at("posts_tags"),
            "{text}"
        );
    }
    assert!(!dir.path().join("unused.db").exists());
}

#[test]
fn a_cycle_gets_its_closing_foreign_key_after_the_tables() {
    let dir = Dir::new();
    let file = dir.write(
        "cycle.toml",
        r#"
[schemas.A]
source = "a"
fields = { id = "id" }
associations.b = { kind = "belongs_to", related = "B" }
[schemas.B]
source = "b"
fields = { id = "id" }
associations.a = { kind = "belongs_to", related = "A" }
"#,
    );
    let out = ddl(&dir, &file, "mysql://x@127.0.0.1:1/y");
    out.assert_code(0);
    assert!(
        out.stdout.trim_end().ends_with(
            "ALTER TABLE `a` ADD CONSTRAINT `a_b_id_fkey` FOREIGN KEY IF NOT EXISTS (`b_id`) REFERENCES `b` (`id`);"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn a_type_the_database_cannot_store_exits_2_naming_the_field() {
    let dir = Dir::new();
    let file = dir.write(
        "nested.toml",
        r#"
[schemas.Grid]
source = "grids"
fields = { id = "id", cells = "array:array:integer" }
"#,
    );
    let out = ddl(&dir, &file, "postgres://x@127.0.0.1:1/y");
    out.assert_code(2)
        .assert_stderr(&["Grid", "cells", "array:array:integer", "PostgreSQL"]);
    // MySQL/MariaDB store it as JSON.
    let out = ddl(&dir, &file, "mysql://x@127.0.0.1:1/y");
    out.assert_code(0);
}
