//! `timeout` bounds each statement: a statement that runs past it is abandoned by the client
//! when the call's time runs out (the database is told the limit too: PostgreSQL
//! `statement_timeout`, MariaDB `max_statement_time`) and reported as `Error::Timeout`
//! naming the table, with everything rolled back. SQLite has no server-side limit; there the
//! limit is checked before each statement, shown with a slow writer hook. (The separate
//! `statement_timeout`, and stalled servers: `deadlines.rs`.)

mod common;

use std::time::Duration;

use bulkinup::{Error, Options};
use common::{Kind, TestDb};
use serde_json::json;

on_every_database!(blog: a_statement_past_the_timeout_fails_the_call_names_the_table_and_rolls_back);

async fn a_statement_past_the_timeout_fails_the_call_names_the_table_and_rolls_back(t: &TestDb) {
    let mut opts = Options::default().timeout(Some(Duration::from_millis(500)));
    match t.kind {
        Kind::Postgres => t
            .db
            .execute_script(
                "CREATE FUNCTION slow_insert() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(3); RETURN NEW; END $$ LANGUAGE plpgsql;
                 CREATE TRIGGER slow_posts BEFORE INSERT ON posts FOR EACH ROW EXECUTE FUNCTION slow_insert();",
            )
            .await
            .unwrap(),
        Kind::MySql => t
            .db
            .execute_script("CREATE TRIGGER slow_posts BEFORE INSERT ON posts FOR EACH ROW SET @slept = SLEEP(3)")
            .await
            .unwrap(),
        Kind::Sqlite => {
            opts = opts.writer(|_, batch| {
                if batch.table == "posts" {
                    std::thread::sleep(Duration::from_millis(800));
                }
                Ok(vec![batch])
            })
        }
    }
    let item = json!({"id": 1, "name": "A", "posts": [{"id": 1, "author_id": 1, "title": "t"}]});
    let started = std::time::Instant::now();
    let err = bulkinup::upsert(&t.db, &common::blog(), "Author", vec![item], &opts)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Timeout { table: Some(table), .. } if table == "posts"),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(2_500),
        "cancelled, not waited out"
    );
    assert_eq!(t.count("authors").await, 0);
}
