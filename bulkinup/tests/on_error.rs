//! Rows the database refuses (README, "When the database refuses a row"): the error names
//! the input item behind them — file and line, primary key — with the database's message
//! and detail; with `on_error = reject` those items are set aside and the rest is
//! committed; errors that are not about a row still roll back. On every database.

mod common;

use std::sync::{Arc, Mutex};

use bulkinup::{DbErrorKind, Error, Item, MaxSkipped, OnError, Options, Origin, Registry};
use common::{Kind, TestDb};
use serde_json::{Value as J, json};

on_every_database!(empty:
    a_foreign_key_violation_names_the_item_its_line_and_key_and_rolls_back,
    reject_sets_aside_the_three_refused_items_of_a_thousand_and_commits_the_rest,
    reject_sets_aside_refused_items_in_concurrent_chunks,
    reject_sets_aside_a_value_too_long_for_its_column,
    an_insert_of_an_existing_key_is_rejected_and_the_rest_inserted,
    an_error_that_is_not_about_a_row_still_rolls_back_with_reject,
    rejected_items_count_toward_max_skipped,
);

mod postgres_only {
    use super::*;

    #[tokio::test]
    async fn a_nul_in_text_is_rejected_with_the_database_error() {
        if let Some(t) = TestDb::empty(Kind::Postgres).await {
            super::a_nul_in_text_is_rejected_with_the_database_error(&t).await;
            t.cleanup().await;
        }
    }

    #[tokio::test]
    async fn the_foreign_key_error_carries_postgresqls_detail() {
        if let Some(t) = TestDb::empty(Kind::Postgres).await {
            super::the_foreign_key_error_carries_postgresqls_detail(&t).await;
            t.cleanup().await;
        }
    }
}

const SCHEMA: &str = r#"
[schemas.Thing]
source = "things"
fields = { id = "integer", team_id = "integer", code = "string", label = "string" }
[schemas.Thing.associations]
notes = { kind = "has_many", related = "Note" }
[schemas.Thing.changesets.changeset]
cast = ["id", "team_id", "code", "label"]
required = ["id"]
cast_assoc = ["notes"]

[schemas.Note]
source = "notes"
fields = { id = "integer", thing_id = "integer", body = "string" }
[schemas.Note.changesets.changeset]
cast = ["id", "thing_id", "body"]
required = ["id", "body"]
"#;

fn registry() -> Registry {
    Registry::from_toml_str(SCHEMA, "things.toml")
        .expect("the schema loads")
        .registry
}

/// Teams (team 1), things (a unique `code` up to 8 characters, a NOT NULL `label`, a
/// foreign key to teams) and their notes; one thing already there: 100000, code `taken`.
async fn tables(t: &TestDb) {
    let check = match t.kind {
        // SQLite does not enforce a VARCHAR's length: a CHECK does.
        Kind::Sqlite => ", CHECK (length(code) <= 8)",
        _ => "",
    };
    let ddl = format!(
        "CREATE TABLE teams (id BIGINT PRIMARY KEY, name VARCHAR(20) NOT NULL);
         CREATE TABLE things (id BIGINT PRIMARY KEY, team_id BIGINT, code VARCHAR(8),
             label VARCHAR(20) NOT NULL, UNIQUE (code),
             FOREIGN KEY (team_id) REFERENCES teams (id){check});
         CREATE TABLE notes (id BIGINT PRIMARY KEY, thing_id BIGINT NOT NULL,
             body VARCHAR(20) NOT NULL, FOREIGN KEY (thing_id) REFERENCES things (id));
         INSERT INTO teams (id, name) VALUES (1, 'one');
         INSERT INTO things (id, team_id, code, label) VALUES (100000, 1, 'taken', 'seed');"
    );
    t.db.execute_script(&ddl).await.expect("the tables");
}

/// Thing `i` (line `i` of `things.ndjson`) with one note, valid.
fn thing(i: u64) -> J {
    json!({"id": i, "team_id": 1, "code": format!("c{i}"), "label": "ok",
           "notes": [{"id": i, "thing_id": i, "body": "b"}]})
}

/// The items, each with its line in `things.ndjson`.
fn items(things: Vec<J>) -> Vec<Item> {
    things
        .into_iter()
        .enumerate()
        .map(|(i, attrs)| Item {
            attrs,
            origin: Some(Origin {
                file: "things.ndjson".into(),
                line: Some(i as u64 + 1),
                index: None,
            }),
        })
        .collect()
}

/// Things 1..=n, with `bad(i)` replacing some.
fn things(n: u64, bad: impl Fn(u64) -> Option<J>) -> Vec<Item> {
    items(
        (1..=n)
            .map(|i| bad(i).unwrap_or_else(|| thing(i)))
            .collect(),
    )
}

/// 1,000 things, three of which the database refuses: 100 (no team 99: a foreign key),
/// 500 (the code of thing 100000: unique), 900 (no label: NOT NULL).
fn thousand_with_three_bad() -> Vec<Item> {
    things(1000, |i| match i {
        100 => Some(json!({"id": 100, "team_id": 99, "code": "c100", "label": "ok"})),
        500 => Some(json!({"id": 500, "team_id": 1, "code": "taken", "label": "ok"})),
        900 => Some(json!({"id": 900, "team_id": 1, "code": "c900", "label": null})),
        _ => None,
    })
}

/// The items the `on_rejected` handler got, in order: (line, primary key, kind, message).
type Seen = Arc<Mutex<Vec<(Option<u64>, J, Option<DbErrorKind>, String)>>>;

fn rejecting(options: Options) -> (Options, Seen) {
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    let options = options
        .on_error(OnError::Reject)
        .on_rejected(move |rejected| {
            let mut sink = sink.lock().unwrap();
            for r in rejected {
                assert_eq!(r.error.item().map(|i| &i.origin), Some(&r.item.origin));
                sink.push((
                    r.item.origin.as_ref().and_then(|o| o.line),
                    r.error.item().map_or(J::Null, |i| i.primary_key.clone()),
                    r.error.db_kind(),
                    r.error.to_string(),
                ));
            }
        });
    (options, seen)
}

/// Makes the tables, then upserts things 1..=n with `on_error = reject`, thing `bad["id"]`
/// replaced by `bad`: the summary and what the `on_rejected` handler got.
async fn upsert_rejecting_one(t: &TestDb, n: u64, bad: J) -> (bulkinup::Summary, Seen) {
    tables(t).await;
    let (options, seen) = rejecting(Options::default());
    let at = bad["id"].as_u64().expect("the bad thing's id");
    let input = things(n, |i| (i == at).then(|| bad.clone()));
    let s = bulkinup::upsert(&t.db, &registry(), "Thing", input, &options)
        .await
        .unwrap();
    (s, seen)
}

async fn ids(t: &TestDb, table: &str) -> Vec<i64> {
    t.column(&format!("SELECT id FROM {table} ORDER BY id"))
        .await
        .into_iter()
        .map(|v| v.as_i64().expect("an integer id"))
        .collect()
}

async fn a_foreign_key_violation_names_the_item_its_line_and_key_and_rolls_back(t: &TestDb) {
    tables(t).await;
    let input = things(300, |i| {
        (i == 120).then(|| json!({"id": 120, "team_id": 99, "code": "c120", "label": "ok"}))
    });
    let e = bulkinup::upsert(&t.db, &registry(), "Thing", input, &Options::default())
        .await
        .unwrap_err();
    assert_eq!(e.db_kind(), Some(DbErrorKind::ForeignKeyViolation), "{e}");
    assert_eq!(e.table(), Some("things"), "{e}");
    let item = e.item().expect("the error names the item");
    assert_eq!(item.origin.as_ref().and_then(|o| o.line), Some(120));
    assert_eq!(item.primary_key, json!(120));
    let text = e.to_string();
    assert!(
        text.contains("for the item at things.ndjson:120 (Thing, primary key 120)"),
        "{text}"
    );
    assert_eq!(e.exit_code(), 1);
    // Rolled back: only the thing that was there.
    assert_eq!(ids(t, "things").await, vec![100000]);
    assert_eq!(t.count("notes").await, 0);
}

async fn reject_sets_aside_the_three_refused_items_of_a_thousand_and_commits_the_rest(t: &TestDb) {
    tables(t).await;
    let (options, seen) = rejecting(Options::default());
    let s = bulkinup::upsert(
        &t.db,
        &registry(),
        "Thing",
        thousand_with_three_bad(),
        &options,
    )
    .await
    .unwrap();
    assert_eq!((s.written, s.skipped, s.rejected), (997, 0, 3));
    assert_eq!(s.rejected_keys, vec![json!(100), json!(500), json!(900)]);
    assert_eq!(s.to_json()["rejected"], json!(3));
    let expected: Vec<i64> = (1..=1000)
        .filter(|i| ![100, 500, 900].contains(i))
        .chain([100000])
        .collect();
    assert_eq!(ids(t, "things").await, expected);
    // The refused items' children went with them: thing 100's note was not written.
    let notes: Vec<i64> = (1..=1000)
        .filter(|i| ![100, 500, 900].contains(i))
        .collect();
    assert_eq!(ids(t, "notes").await, notes);
    assert_eq!(s.rows.get("things"), Some(&997));
    assert_eq!(s.rows.get("notes"), Some(&997));
    let seen = seen.lock().unwrap();
    let got: Vec<_> = seen
        .iter()
        .map(|(l, k, kind, _)| (*l, k.clone(), *kind))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                Some(100),
                json!(100),
                Some(DbErrorKind::ForeignKeyViolation)
            ),
            (Some(500), json!(500), Some(DbErrorKind::UniqueViolation)),
            (Some(900), json!(900), Some(DbErrorKind::NotNullViolation)),
        ]
    );
    for (line, _, _, message) in seen.iter() {
        let at = format!("things.ndjson:{}", line.unwrap());
        assert!(message.contains(&at), "{message}");
        assert!(message.contains("writing table `things`"), "{message}");
    }
}

async fn reject_sets_aside_refused_items_in_concurrent_chunks(t: &TestDb) {
    tables(t).await;
    let (options, seen) = rejecting(Options::default().chunk_size(100).max_concurrency(2));
    let s = bulkinup::upsert(
        &t.db,
        &registry(),
        "Thing",
        thousand_with_three_bad(),
        &options,
    )
    .await
    .unwrap();
    assert_eq!((s.written, s.rejected), (997, 3));
    assert_eq!(t.count("things").await, 998);
    assert_eq!(t.count("notes").await, 997);
    let mut lines: Vec<Option<u64>> = seen.lock().unwrap().iter().map(|r| r.0).collect();
    lines.sort();
    assert_eq!(lines, vec![Some(100), Some(500), Some(900)]);
}

async fn reject_sets_aside_a_value_too_long_for_its_column(t: &TestDb) {
    let bad = json!({"id": 7, "team_id": 1, "code": "much too long", "label": "ok"});
    let (s, seen) = upsert_rejecting_one(t, 20, bad).await;
    assert_eq!((s.written, s.rejected), (19, 1));
    assert_eq!(t.count("things").await, 20);
    assert!(!ids(t, "things").await.contains(&7));
    assert_eq!(seen.lock().unwrap()[0].0, Some(7));
}

async fn an_insert_of_an_existing_key_is_rejected_and_the_rest_inserted(t: &TestDb) {
    tables(t).await;
    let (options, seen) = rejecting(Options::default());
    let mut input = things(10, |_| None);
    // Line 11: thing 100000 is already there.
    input.extend(items(vec![
        json!({"id": 100000, "code": "new", "label": "dup"}),
    ]));
    input[10].origin.as_mut().unwrap().line = Some(11);
    let s = bulkinup::insert(&t.db, &registry(), "Thing", input, &options)
        .await
        .unwrap();
    assert_eq!((s.written, s.rejected), (10, 1));
    assert_eq!(t.count("things").await, 11);
    let first = seen.lock().unwrap()[0].clone();
    assert_eq!(first.0, Some(11));
    assert_eq!(first.2, Some(DbErrorKind::UniqueViolation));
    // The row that was there is unchanged.
    let label = t.column("SELECT label FROM things WHERE id = 100000").await;
    assert_eq!(label, vec![json!("seed")]);
}

async fn an_error_that_is_not_about_a_row_still_rolls_back_with_reject(t: &TestDb) {
    tables(t).await;
    // The notes of these things go to a table that does not exist.
    let schema = SCHEMA.replace("source = \"notes\"", "source = \"no_such_notes\"");
    let registry = Registry::from_toml_str(&schema, "things.toml")
        .unwrap()
        .registry;
    let (options, seen) = rejecting(Options::default());
    let e = bulkinup::upsert(&t.db, &registry, "Thing", things(10, |_| None), &options)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Database { .. }), "{e:?}");
    assert_eq!(e.db_kind(), Some(DbErrorKind::Other), "{e}");
    assert!(e.item().is_none(), "{e}");
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(ids(t, "things").await, vec![100000]);
}

async fn rejected_items_count_toward_max_skipped(t: &TestDb) {
    tables(t).await;
    let (options, _) = rejecting(Options::default().max_skipped(MaxSkipped::Items(2)));
    let e = bulkinup::upsert(
        &t.db,
        &registry(),
        "Thing",
        thousand_with_three_bad(),
        &options,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::TooManyInvalid {
                invalid: 3,
                total: 1000,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 4);
    assert_eq!(ids(t, "things").await, vec![100000]);
}

async fn a_nul_in_text_is_rejected_with_the_database_error(t: &TestDb) {
    let bad = json!({"id": 3, "team_id": 1, "code": "c3", "label": "a\u{0}b"});
    let (s, seen) = upsert_rejecting_one(t, 5, bad).await;
    assert_eq!((s.written, s.rejected), (4, 1));
    assert_eq!(ids(t, "things").await, vec![1, 2, 4, 5, 100000]);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].0, Some(3));
    assert!(seen[0].3.contains("0x00"), "{}", seen[0].3);
}

async fn the_foreign_key_error_carries_postgresqls_detail(t: &TestDb) {
    tables(t).await;
    let input = things(3, |i| {
        (i == 2).then(|| json!({"id": 2, "team_id": 99, "code": "c2", "label": "ok"}))
    });
    let e = bulkinup::upsert(&t.db, &registry(), "Thing", input, &Options::default())
        .await
        .unwrap_err();
    let Error::Database { detail, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        detail.as_deref(),
        Some("Key (team_id)=(99) is not present in table \"teams\".")
    );
    assert!(
        e.to_string()
            .contains("; detail: Key (team_id)=(99) is not present in table \"teams\"."),
        "{e}"
    );
}
