//! `--on-error rollback|reject` through the binary: a row the database refuses is named by
//! its input file and line, its primary key and the database's message (exit 1, rolled
//! back); with `--on-error reject` the refused items go to the rejects file with
//! `"stage": "database"`, the summary counts them as `rejected`, and the rest is
//! committed. On SQLite, PostgreSQL and MariaDB/MySQL.

mod common;

use common::{TestDb, blog_schema, upsert_authors as upsert};
use serde_json::{Value as J, json};

on_every_database!(blog:
    a_foreign_key_violation_names_the_file_line_and_key_and_exits_1,
    on_error_reject_writes_the_refused_items_to_rejects_and_commits_the_rest,
    an_unknown_on_error_is_a_usage_error_naming_the_flag,
);

fn schema() -> String {
    blog_schema().display().to_string()
}

/// Authors 1..=n with one post each; author 3's post names category 99, which does not
/// exist (a foreign key the database refuses).
fn authors(n: u64) -> String {
    (1..=n)
        .map(|i| {
            let category = if i == 3 { 99 } else { 1 };
            json!({"id": i, "name": format!("a{i}"),
                   "posts": [{"id": i, "author_id": i, "title": "t", "category_id": category}]})
        })
        .map(|i: J| format!("{i}\n"))
        .collect()
}

async fn seed_category(t: &TestDb) {
    t.db.execute_script("INSERT INTO categories (id, name) VALUES (1, 'c')")
        .await
        .expect("category 1");
}

async fn a_foreign_key_violation_names_the_file_line_and_key_and_exits_1(t: &TestDb) {
    seed_category(t).await;
    let s = schema();
    let input = t.dir.write("authors.ndjson", &authors(5));
    let out = t.run(&upsert(&s, &[&input]));
    let at = format!("for the item at {input}:3 (Author, primary key 3)");
    out.assert_code(1)
        .assert_stderr(&["writing table `posts`", &at, "rolled back"]);
    if t.kind == common::Kind::Postgres {
        out.assert_stderr(&[
            "detail: Key (category_id)=(99) is not present in table \"categories\".",
        ]);
    }
    assert_eq!(out.stdout, "");
    assert_eq!(t.count("authors").await, 0);
    assert_eq!(t.count("posts").await, 0);
}

async fn on_error_reject_writes_the_refused_items_to_rejects_and_commits_the_rest(t: &TestDb) {
    seed_category(t).await;
    let s = schema();
    let input = t.dir.write("authors.ndjson", &authors(5));
    let out = t.run(&upsert(
        &s,
        &[
            "--on-error",
            "reject",
            "--rejects",
            "rejects.ndjson",
            &input,
        ],
    ));
    out.assert_code(0).assert_stderr(&[
        "upsert Author: rejected 1 of 5 items refused by the database; primary keys: [3]",
    ]);
    let summary = out.json();
    assert_eq!(summary["upserted"], json!(4));
    assert_eq!(summary["rejected"], json!(1));
    assert_eq!(summary["rows"]["posts"], json!(4));
    assert_eq!(
        t.column("SELECT id FROM authors ORDER BY id").await,
        vec![json!(1), json!(2), json!(4), json!(5)]
    );
    assert_eq!(t.count("posts").await, 4);

    let rejects = t.dir.read_ndjson("rejects.ndjson");
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    let r = &rejects[0];
    assert_eq!(r["stage"], json!("database"));
    assert_eq!(r["file"], json!(input));
    assert_eq!(r["line"], json!(3));
    assert_eq!(r["item"]["id"], json!(3));
    let db = &r["errors"]["database"];
    assert_eq!(db["table"], json!("posts"));
    assert!(db["message"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
    if t.kind == common::Kind::Postgres {
        assert_eq!(
            db["detail"],
            json!("Key (category_id)=(99) is not present in table \"categories\".")
        );
    }
}

async fn an_unknown_on_error_is_a_usage_error_naming_the_flag(t: &TestDb) {
    let s = schema();
    let input = t.dir.write("authors.ndjson", &authors(1));
    let out = t.run(&upsert(&s, &["--on-error", "rejct", &input]));
    out.assert_code(2).assert_stderr(&[
        "`--on-error`",
        "did you mean `reject`?",
        "rollback, reject",
    ]);
    assert_eq!(t.count("authors").await, 0);
}
