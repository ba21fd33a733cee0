//! Issue 13: a valid JSON number that does not fit a 64-bit float (`1e400`, `-1e400`) is an
//! invalid value of its field, not malformed input: in an integer, float or decimal field
//! the item is skipped with `is invalid` (and goes to the rejects file) while the other items
//! are written; in a `map` field it is kept exactly, as every database's JSON we test holds it.

mod common;

use common::{Kind, TestDb};
use serde_json::Value as J;

on_every_database!(empty:
    an_out_of_range_number_in_a_number_field_is_invalid_and_the_other_items_are_written,
    an_out_of_range_number_in_a_map_field_is_kept_exactly,
);

/// A table with a field of each number type and a `map` field.
fn create_numbers(kind: Kind) -> &'static str {
    match kind {
        Kind::Sqlite => {
            "CREATE TABLE numbers (id BIGINT PRIMARY KEY, n BIGINT, x DOUBLE PRECISION, \
             d DECIMAL(20, 4), m TEXT)"
        }
        Kind::Postgres => {
            "CREATE TABLE numbers (id BIGINT PRIMARY KEY, n BIGINT, x DOUBLE PRECISION, \
             d NUMERIC(20, 4), m JSONB)"
        }
        Kind::MySql => {
            "CREATE TABLE numbers (id BIGINT PRIMARY KEY, n BIGINT, x DOUBLE, \
             d DECIMAL(20, 4), m JSON)"
        }
    }
}

const SCHEMA: &str = "[schemas.Number]\nsource = \"numbers\"\n\
    fields = { id = \"integer\", n = \"integer\", x = \"float\", d = \"decimal\", m = \"map\" }\n\
    [schemas.Number.changesets.changeset]\ncast = [\"id\", \"n\", \"x\", \"d\", \"m\"]\n\
    required = [\"id\"]\n";

/// Upserts `lines` (NDJSON) into `numbers`, with a rejects file.
async fn upsert(t: &TestDb, lines: &[&str]) -> common::Out {
    t.db.execute_script(create_numbers(t.kind))
        .await
        .expect("the numbers table");
    let schema = t.dir.write("numbers.toml", SCHEMA);
    let input = t.dir.write("in.ndjson", &(lines.join("\n") + "\n"));
    t.run(&[
        "upsert",
        "--schema",
        &schema,
        "--root",
        "Number",
        "--rejects",
        "rejects.ndjson",
        &input,
    ])
}

async fn an_out_of_range_number_in_a_number_field_is_invalid_and_the_other_items_are_written(
    t: &TestDb,
) {
    let lines = [
        r#"{"id": 1, "n": 1, "x": 1.5, "d": "2.5"}"#,
        r#"{"id": 2, "n": 1e400}"#,
        r#"{"id": 3, "x": 1e400}"#,
        r#"{"id": 4, "d": 1e400}"#,
        r#"{"id": 5, "n": -1e400}"#,
        r#"{"id": 6, "x": -1e400}"#,
        r#"{"id": 7, "d": -1e400}"#,
        r#"{"id": 8, "n": 8, "x": 8e300}"#,
    ];
    let out = upsert(t, &lines).await;
    out.assert_code(0);
    assert_eq!(
        out.stdout,
        "{\"upserted\":2,\"skipped\":6,\"rows\":{\"numbers\":2}}\n"
    );
    let got: Vec<(J, J, String)> = t
        .dir
        .read_ndjson("rejects.ndjson")
        .iter()
        .map(|r| {
            (
                r["line"].clone(),
                r["errors"].clone(),
                r["item"].to_string(),
            )
        })
        .collect();
    let expected: Vec<(J, J, String)> =
        [(2, "n"), (3, "x"), (4, "d"), (5, "n"), (6, "x"), (7, "d")]
            .into_iter()
            .map(|(line, field)| {
                (
                    J::from(line),
                    serde_json::json!({ field: ["is invalid"] }),
                    // the rejected item as it was given, the number as read
                    serde_json::from_str::<J>(lines[line - 1])
                        .expect("an input line")
                        .to_string(),
                )
            })
            .collect();
    assert_eq!(got, expected);
    // the number as read: the same digits, the exponent written with its sign
    assert_eq!(got[0].2, r#"{"id":2,"n":1e+400}"#);
    assert_eq!(got[3].2, r#"{"id":5,"n":-1e+400}"#);
    assert_eq!(
        t.column("SELECT id FROM numbers ORDER BY id").await,
        [J::from(1), J::from(8)]
    );
    assert_eq!(
        t.column("SELECT n FROM numbers ORDER BY id").await,
        [J::from(1), J::from(8)]
    );
}

async fn an_out_of_range_number_in_a_map_field_is_kept_exactly(t: &TestDb) {
    let out = upsert(
        t,
        &[r#"{"id": 1, "m": {"big": 1e400, "small": -1e400, "ok": 2}}"#],
    )
    .await;
    out.assert_code(0);
    assert_eq!(
        out.stdout,
        "{\"upserted\":1,\"skipped\":0,\"rows\":{\"numbers\":1}}\n"
    );
    let text = match t.kind {
        Kind::Postgres => "SELECT m::text AS m FROM numbers",
        Kind::MySql => "SELECT CAST(m AS CHAR) AS m FROM numbers",
        Kind::Sqlite => "SELECT m FROM numbers",
    };
    let stored = t.column(text).await;
    let [m] = stored.as_slice() else {
        panic!("one row: {stored:?}")
    };
    // PostgreSQL's jsonb keeps the number as a `numeric`: the same value, in full digits;
    // MariaDB's JSON and SQLite's text keep the text as serde_json writes it (the same
    // digits, the exponent with its sign).
    let (big, small) = match t.kind {
        Kind::Postgres => (
            format!("1{}", "0".repeat(400)),
            format!("-1{}", "0".repeat(400)),
        ),
        _ => ("1e+400".to_string(), "-1e+400".to_string()),
    };
    assert_eq!(m["big"].to_string(), big, "{m}");
    assert_eq!(m["small"].to_string(), small, "{m}");
    assert_eq!(m["ok"], J::from(2), "{m}");
}
