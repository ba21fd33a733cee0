//! The command line's side of Ecto parity: the verb and root in the skipped-items line,
//! `--prefix` and `[options] prefix`, and schema-file `defaults`/`join_defaults` — run for
//! real against every database.

mod common;

use common::{TestDb, blog_schema, count_in};
use serde_json::json;

on_every_database!(blog:
    insert_reports_skipped_items_with_the_verb_and_the_root_schema,
    the_prefix_flag_writes_into_the_prefix_and_leaves_the_default_tables_empty,
    the_prefix_of_the_options_table_applies_and_the_flag_overrides_it,
    a_prefix_that_does_not_exist_exits_2_names_it_and_writes_nothing,
    schema_file_defaults_and_join_defaults_are_written,
);

fn schema() -> String {
    blog_schema().display().to_string()
}

async fn insert_reports_skipped_items_with_the_verb_and_the_root_schema(t: &TestDb) {
    let input = t.dir.write(
        "in.ndjson",
        "{\"id\": 1, \"name\": \"Alice\"}\n{\"id\": 2}\n",
    );
    let s = schema();
    let out = t.run(&["insert", "--schema", &s, "--root", "Author", &input]);
    out.assert_code(0);
    assert_eq!(
        out.stderr.trim_end(),
        "insert Author: skipped 1 of 2 items as invalid; primary keys: [2]"
    );
    assert_eq!(t.column("SELECT id FROM authors").await, [json!(1)]);
}

/// The blog tables in a second prefix (beside the test's own, which stay as they are), and
/// the URL on which that prefix exists.
async fn blog_in_second_prefix(t: &TestDb) -> (String, String, bulkinup::Db) {
    let (prefix, db) = t.second_prefix().await;
    db.close().await;
    let inside = bulkinup::Db::connect(&t.url_inside(&prefix)).await.unwrap();
    inside
        .execute_script(common::blog_ddl(t.kind))
        .await
        .unwrap();
    (prefix.clone(), t.url_with_prefix(&prefix), inside)
}

const AUTHORS: &str = "{\"id\": 1, \"name\": \"Alice\", \"posts\": [{\"id\": 10, \"author_id\": 1, \"title\": \"Hi\", \"tags\": [{\"id\": 7, \"name\": \"t7\"}]}]}\n";

async fn the_prefix_flag_writes_into_the_prefix_and_leaves_the_default_tables_empty(t: &TestDb) {
    let (prefix, url, inside) = blog_in_second_prefix(t).await;
    let input = t.dir.write("in.ndjson", AUTHORS);
    let s = schema();
    let out = t.run_at(
        &url,
        &[
            "upsert", "--schema", &s, "--root", "Author", "--prefix", &prefix, &input,
        ],
    );
    out.assert_code(0);
    assert_eq!(
        out.json()["rows"],
        json!({
            format!("{prefix}.authors"): 1,
            format!("{prefix}.posts"): 1,
            format!("{prefix}.tags"): 1,
            format!("{prefix}.posts_tags"): 1,
        })
    );
    for (table, n) in [("authors", 1), ("posts", 1), ("tags", 1), ("posts_tags", 1)] {
        assert_eq!(count_in(&inside, table).await, n, "{prefix}.{table}");
        assert_eq!(t.count(table).await, 0, "default {table}");
    }
    inside.close().await;
}

async fn the_prefix_of_the_options_table_applies_and_the_flag_overrides_it(t: &TestDb) {
    let (prefix, url, inside) = blog_in_second_prefix(t).await;
    let text = std::fs::read_to_string(blog_schema()).unwrap();
    let with_options = t.dir.write(
        "schema.toml",
        &format!("{text}\n[options]\nprefix = \"{prefix}\"\n"),
    );
    let input = t.dir.write("in.ndjson", AUTHORS);
    let args = ["upsert", "--schema", &with_options, "--root", "Author"];
    t.run_at(&url, &[&args[..], &[&input]].concat())
        .assert_code(0);
    assert_eq!(count_in(&inside, "authors").await, 1);
    assert_eq!(t.count("authors").await, 0);

    // The flag wins over the file: `main`/`public`/the test database is the default place.
    let flag = ["--prefix", t.default_prefix(), &input];
    t.run_at(&url, &[&args[..], &flag].concat()).assert_code(0);
    assert_eq!(t.count("authors").await, 1);
    inside.close().await;
}

async fn a_prefix_that_does_not_exist_exits_2_names_it_and_writes_nothing(t: &TestDb) {
    let input = t.dir.write("in.ndjson", AUTHORS);
    let s = schema();
    let out = t.run(&[
        "upsert",
        "--schema",
        &s,
        "--root",
        "Author",
        "--prefix",
        "no_such_place",
        &input,
    ]);
    out.assert_code(2)
        .assert_stderr(&["--prefix", "no_such_place", "does not exist"]);
    assert_eq!(out.stdout, "");
    assert_eq!(t.count("authors").await, 0);
}

async fn schema_file_defaults_and_join_defaults_are_written(t: &TestDb) {
    // The blog schema with defaults on Author.posts (a title) and a join default on
    // Post.tags; posts_tags gets a column for it.
    let text = std::fs::read_to_string(blog_schema())
        .unwrap()
        .replace(
            r#"posts        = { kind = "has_many",    related = "Post" }"#,
            r#"posts        = { kind = "has_many",    related = "Post", defaults = { title = "Untitled" } }"#,
        )
        .replace(
            r#"join_keys = [["post_id", "id"], ["tag_id", "id"]] }"#,
            r#"join_keys = [["post_id", "id"], ["tag_id", "id"]], join_defaults = { source = "import" } }"#,
        );
    assert!(
        text.contains("Untitled") && text.contains("import"),
        "{text}"
    );
    let file = t.dir.write("schema.toml", &text);
    t.db.execute_script(
        "ALTER TABLE posts_tags ADD COLUMN source VARCHAR(20) NOT NULL DEFAULT 'x'",
    )
    .await
    .unwrap();
    let input = t.dir.write(
        "in.ndjson",
        "{\"id\": 1, \"name\": \"Alice\", \"posts\": [{\"id\": 10, \"author_id\": 1, \"tags\": [{\"id\": 7, \"name\": \"t7\"}]}, {\"id\": 11, \"author_id\": 1, \"title\": \"Given\"}]}\n",
    );
    let out = t.run(&["upsert", "--schema", &file, "--root", "Author", &input]);
    out.assert_code(0);
    assert_eq!(out.json()["skipped"], json!(0));
    assert_eq!(
        t.column("SELECT title FROM posts ORDER BY id").await,
        [json!("Untitled"), json!("Given")]
    );
    assert_eq!(
        t.column("SELECT source FROM posts_tags").await,
        [json!("import")]
    );
}
