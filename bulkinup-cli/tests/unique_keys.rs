//! The command line's upsert and a unique key besides the conflict target: a row that would
//! collide with a different row through it exits 1 naming the key, and no row changes — on
//! every database; `--any-unique-key` gives MySQL/MariaDB's update of the other row.

mod common;

use common::{Kind, TestDb, blog_schema};
use serde_json::{Value as J, json};

on_every_database!(blog: a_profile_taking_another_profiles_author_id_exits_1_naming_the_key_and_changes_nothing);

#[tokio::test]
async fn any_unique_key_on_mariadb_updates_the_row_the_second_key_matches() {
    if let Some(t) = TestDb::blog(Kind::MySql).await {
        seed(&t).await;
        let input = t.dir.write("steal.ndjson", STEAL);
        let s = schema();
        let out = t.run(&profile_args(&s, &["--any-unique-key", &input]));
        out.assert_code(0);
        assert_eq!(
            out.json(),
            json!({"upserted": 1, "skipped": 0, "rows": {"profiles": 1}})
        );
        assert_eq!(
            t.rows("SELECT id, author_id, bio FROM profiles ORDER BY id")
                .await
                .into_iter()
                .map(J::Object)
                .collect::<Vec<_>>(),
            vec![
                json!({"id": 1, "author_id": 1, "bio": "steals author 1"}),
                json!({"id": 2, "author_id": 2, "bio": "second"}),
            ]
        );
        t.cleanup().await;
    }
}

/// A new profile 3 for author 1, whose profile is 1.
const STEAL: &str = "{\"id\": 3, \"author_id\": 1, \"bio\": \"steals author 1\"}\n";

fn schema() -> String {
    blog_schema().display().to_string()
}

fn profile_args<'a>(schema: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["upsert", "--schema", schema, "--root", "Profile"];
    args.extend_from_slice(rest);
    args
}

/// Authors 1 and 2, each with its profile.
async fn seed(t: &TestDb) {
    t.seed_two_profiles().await;
}

async fn a_profile_taking_another_profiles_author_id_exits_1_naming_the_key_and_changes_nothing(
    t: &TestDb,
) {
    seed(t).await;
    let before = t
        .rows("SELECT id, author_id, bio FROM profiles ORDER BY id")
        .await;
    let input = t.dir.write("steal.ndjson", STEAL);
    let s = schema();
    let out = t.run(&profile_args(&s, &[&input]));
    out.assert_code(1).assert_stderr(&[
        "database error writing table `profiles`",
        "author_id",
        "a row with that key already exists",
    ]);
    if t.kind == Kind::MySql {
        out.assert_stderr(&["unique key `author_id` (author_id)", "--any-unique-key"]);
    }
    assert_eq!(out.stdout, "");
    assert_eq!(
        t.rows("SELECT id, author_id, bio FROM profiles ORDER BY id")
            .await,
        before
    );
}
