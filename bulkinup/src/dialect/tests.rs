//! Golden SQL for every statement shape on every dialect.

use super::*;
use pretty_assertions::assert_eq;

fn update() -> OnConflict {
    OnConflict::Update {
        target: vec!["id".into()],
        set: vec!["name".into(), "phone_number".into()],
    }
}

fn nothing() -> OnConflict {
    OnConflict::Nothing {
        target: vec!["post_id".into(), "tag_id".into()],
    }
}

#[test]
fn quote_doubles_embedded_quotes_on_every_dialect() {
    assert_eq!(PgDialect.quote(r#"we"ird"#), r#""we""ird""#);
    assert_eq!(SqliteDialect.quote(r#"we"ird"#), r#""we""ird""#);
    assert_eq!(MySqlDialect.quote("we`ird"), "`we``ird`");
}

#[test]
fn placeholders_per_dialect() {
    let mut s = String::new();
    PgDialect.placeholder(&mut s, 3);
    SqliteDialect.placeholder(&mut s, 3);
    MySqlDialect.placeholder(&mut s, 3);
    assert_eq!(s, "$3??");
}

#[test]
fn plain_insert_has_no_conflict_clause() {
    let cols = ["id", "name"];
    assert_eq!(
        PgDialect.insert_sql("authors".into(), &cols, 2, &OnConflict::Raise),
        r#"INSERT INTO "authors" ("id", "name") VALUES ($1, $2), ($3, $4)"#
    );
    assert_eq!(
        SqliteDialect.insert_sql("authors".into(), &cols, 2, &OnConflict::Raise),
        r#"INSERT INTO "authors" ("id", "name") VALUES (?, ?), (?, ?)"#
    );
    assert_eq!(
        MySqlDialect.insert_sql("authors".into(), &cols, 2, &OnConflict::Raise),
        "INSERT INTO `authors` (`id`, `name`) VALUES (?, ?), (?, ?)"
    );
}

#[test]
fn upsert_replaces_the_listed_columns() {
    let cols = ["id", "name", "phone_number"];
    assert_eq!(
        PgDialect.insert_sql("authors".into(), &cols, 1, &update()),
        r#"INSERT INTO "authors" ("id", "name", "phone_number") VALUES ($1, $2, $3) ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "phone_number" = EXCLUDED."phone_number""#
    );
    assert_eq!(
        SqliteDialect.insert_sql("authors".into(), &cols, 1, &update()),
        r#"INSERT INTO "authors" ("id", "name", "phone_number") VALUES (?, ?, ?) ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "phone_number" = EXCLUDED."phone_number""#
    );
    assert_eq!(
        MySqlDialect.insert_sql("authors".into(), &cols, 1, &update()),
        "INSERT INTO `authors` (`id`, `name`, `phone_number`) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE `name` = VALUES(`name`), `phone_number` = VALUES(`phone_number`)"
    );
}

#[test]
fn join_rows_do_nothing_on_conflict() {
    let cols = ["post_id", "tag_id"];
    assert_eq!(
        PgDialect.insert_sql("posts_tags".into(), &cols, 1, &nothing()),
        r#"INSERT INTO "posts_tags" ("post_id", "tag_id") VALUES ($1, $2) ON CONFLICT ("post_id", "tag_id") DO NOTHING"#
    );
    assert_eq!(
        SqliteDialect.insert_sql("posts_tags".into(), &cols, 1, &nothing()),
        r#"INSERT INTO "posts_tags" ("post_id", "tag_id") VALUES (?, ?) ON CONFLICT ("post_id", "tag_id") DO NOTHING"#
    );
    assert_eq!(
        MySqlDialect.insert_sql("posts_tags".into(), &cols, 1, &nothing()),
        "INSERT INTO `posts_tags` (`post_id`, `tag_id`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `post_id` = `post_id`"
    );
}

#[test]
fn bind_limits_are_the_documented_constants() {
    assert_eq!(PgDialect.bind_limit(), 65_535);
    assert_eq!(MySqlDialect.bind_limit(), 65_535);
    assert_eq!(SqliteDialect.bind_limit(), 32_766);
}

#[test]
fn deadlock_and_serialization_codes_are_retryable() {
    assert!(PgDialect.is_retryable("40P01") && PgDialect.is_retryable("40001"));
    assert!(!PgDialect.is_retryable("23505"));
    assert!(MySqlDialect.is_retryable("40001"));
    assert!(!MySqlDialect.is_retryable("23000"));
    assert!(!SqliteDialect.is_retryable("5"));
}

#[test]
fn rows_per_statement_respects_chunk_size_and_bind_limit() {
    use crate::execute::rows_per_statement;
    assert_eq!(rows_per_statement(1000, 65_535, 6), 1000);
    assert_eq!(rows_per_statement(20_000, 32_766, 2), 16_383);
    assert_eq!(rows_per_statement(5, 10, 100), 1);
}

#[test]
fn shared_placeholder_columns_are_bound_once_where_the_dialect_reuses_placeholders() {
    let cols = ["id", "inserted_at", "name"];
    let shared = [false, true, false];
    assert_eq!(
        PgDialect.insert_sql_shared("tags".into(), &cols, &shared, 2, &OnConflict::Raise, false),
        r#"INSERT INTO "tags" ("id", "inserted_at", "name") VALUES ($2, $1, $3), ($4, $1, $5)"#
    );
    assert_eq!(
        SqliteDialect.insert_sql_shared(
            "tags".into(),
            &cols,
            &shared,
            2,
            &OnConflict::Raise,
            false
        ),
        r#"INSERT INTO "tags" ("id", "inserted_at", "name") VALUES (?, ?, ?), (?, ?, ?)"#
    );
    assert_eq!(
        MySqlDialect.insert_sql_shared("tags".into(), &cols, &shared, 2, &OnConflict::Raise, false),
        "INSERT INTO `tags` (`id`, `inserted_at`, `name`) VALUES (?, ?, ?), (?, ?, ?)"
    );
}

#[test]
fn returning_clause_casts_text_columns_per_dialect() {
    let returning = [Returned::Stored("id"), Returned::Text("name")];
    assert_eq!(
        PgDialect.returning_sql(&returning),
        r#" RETURNING "id", CAST("name" AS TEXT)"#
    );
    assert_eq!(
        SqliteDialect.returning_sql(&returning),
        r#" RETURNING "id", CAST("name" AS TEXT)"#
    );
    assert_eq!(
        MySqlDialect.returning_sql(&returning),
        " RETURNING `id`, CAST(`name` AS CHAR)"
    );
}

#[test]
fn insert_returning_appends_the_returning_clause_per_dialect() {
    let returning = [
        Returned::Stored("id"),
        Returned::Stored("author_id"),
        Returned::Text("title"),
    ];
    let cols = ["author_id", "title"];
    assert_eq!(
        PgDialect.insert_returning_sql(
            "posts".into(),
            &cols,
            2,
            &OnConflict::Raise,
            &returning,
            false
        ),
        r#"INSERT INTO "posts" ("author_id", "title") VALUES ($1, $2), ($3, $4) RETURNING "id", "author_id", CAST("title" AS TEXT)"#
    );
    assert_eq!(
        SqliteDialect.insert_returning_sql(
            "posts".into(),
            &cols,
            1,
            &OnConflict::Raise,
            &returning,
            false
        ),
        r#"INSERT INTO "posts" ("author_id", "title") VALUES (?, ?) RETURNING "id", "author_id", CAST("title" AS TEXT)"#
    );
    let upsert = OnConflict::Update {
        target: vec!["title".into()],
        set: vec!["title".into()],
    };
    assert_eq!(
        MySqlDialect.insert_returning_sql("posts".into(), &cols, 1, &upsert, &returning, false),
        "INSERT INTO `posts` (`author_id`, `title`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `title` = VALUES(`title`) RETURNING `id`, `author_id`, CAST(`title` AS CHAR)"
    );
}
