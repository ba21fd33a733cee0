//! PostgreSQL's binary `COPY` (README, "What one call does"): a plain insert is one `COPY`
//! per table and chunk where every column has the type its values are bound as or one that
//! holds them exactly (`integer`, `smallint`, `numeric` for integers, `real` for floats),
//! `unnest` for any other table, for a batch with a value its column cannot hold and with
//! the URL's `bulkinup_copy=off`; an upsert probes which keys exist, copies the new rows and
//! updates the existing ones, and falls back to `unnest … ON CONFLICT` when the `COPY` is
//! refused. The rows, and the errors, are the same either way.

mod common;

use std::sync::{Arc, Mutex};

use bulkinup::{Db, DbErrorKind, Item, OnError, Options, Registry};
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
    things(2)
}

/// Things 1..=n, each with three notes (one without a body).
fn things(n: i64) -> Vec<Item> {
    (1..=n)
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
    expected_things(2)
}

/// The rows of [`things`]`(n)`, as [`contents`] reads them.
fn expected_things(n: i64) -> (Vec<J>, Vec<J>) {
    let things = (1..=n)
        .map(|i| {
            json!(format!(
                "{i}|thing {i}|{{\"n\": {i}, \"tags\": [\"a\", \"b\"]}}|2026-12-01 10:20:30.123456+00|12.50|{}|8c7e4a52-5a1f-4a3e-9a43-0d6b2b1f7c11|2026-12-01",
                if i == 1 { "t" } else { "f" }
            ))
        })
        .collect();
    let notes = (1..=n)
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

/// A second connection to the test's database, with `bulkinup_copy=off` in its URL.
async fn copy_off(t: &TestDb) -> Db {
    let sep = if t.url.contains('?') { '&' } else { '?' };
    Db::connect(&format!("{}{sep}bulkinup_copy=off", t.url))
        .await
        .expect("connect")
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
    let db = copy_off(&t).await;
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
    // `notes.id` is `double precision`, its values `int8` (not exact as a float past 2^53):
    // no binary COPY into it, the server's cast decides.
    tables(&t.db, "DOUBLE PRECISION").await;
    let s = bulkinup::insert(&t.db, &registry(), "Thing", items(), &options())
        .await
        .expect("insert");
    assert_eq!(s.statements.get("notes"), Some(&3));
    assert_eq!(s.statements.get("things"), Some(&1));
    assert_eq!(contents(&t).await, expected());
    t.cleanup().await;
}

#[tokio::test]
async fn an_upsert_into_empty_tables_is_one_probe_then_one_copy_per_table_and_chunk() {
    let Some(t) = TestDb::empty(Kind::Postgres).await else {
        return;
    };
    tables(&t.db, "BIGINT").await;
    let s = bulkinup::upsert(&t.db, &registry(), "Thing", things(4), &options())
        .await
        .expect("upsert");
    // Chunk 1: a probe finds nothing, one COPY; chunk 2: one COPY, no probe.
    assert_eq!(s.statements.get("notes"), Some(&3));
    assert_eq!(s.statements.get("things"), Some(&3));
    assert_eq!(s.rows.get("notes"), Some(&12));
    assert_eq!(contents(&t).await, expected_things(4));
    t.cleanup().await;
}

/// The items with every label and note body changed.
fn changed_items() -> Vec<Item> {
    changed(2)
}

/// [`things`]`(n)` with every label and note body changed.
fn changed(n: i64) -> Vec<Item> {
    things(n)
        .into_iter()
        .map(|item| {
            let mut j = item.attrs;
            j["label"] = json!("changed");
            for n in j["notes"].as_array_mut().expect("notes") {
                n["body"] = json!(format!("changed {}", n["id"]));
            }
            Item::from(j)
        })
        .collect()
}

/// [`expected`] after [`changed_items`] were upserted over it.
fn changed_expected() -> (Vec<J>, Vec<J>) {
    changed_things(2)
}

/// The rows of [`changed`]`(n)`, as [`contents`] reads them.
fn changed_things(n: i64) -> (Vec<J>, Vec<J>) {
    let (things, notes) = expected_things(n);
    let things = things
        .iter()
        .map(|r| {
            let r = r.as_str().expect("text");
            let mut parts: Vec<&str> = r.split('|').collect();
            parts[1] = "changed";
            json!(parts.join("|"))
        })
        .collect();
    let notes = notes
        .iter()
        .map(|r| {
            let r = r.as_str().expect("text");
            let (id, rest) = r.split_once('|').expect("id|…");
            let thing = rest.split('|').next().expect("thing_id");
            json!(format!("{id}|{thing}|changed {id}"))
        })
        .collect();
    (things, notes)
}

/// Things `ids` written (as inserted, unchanged) before the test's upsert.
async fn insert_things(t: &TestDb, ids: &[i64]) {
    let items: Vec<Item> = things(4)
        .into_iter()
        .filter(|item| ids.iter().any(|id| item.attrs["id"] == json!(id)))
        .collect();
    bulkinup::insert(&t.db, &registry(), "Thing", items, &options())
        .await
        .expect("the things before");
}

#[tokio::test]
async fn an_upsert_over_existing_rows_probes_once_then_updates_them_with_the_conflict_clause() {
    let Some(t) = TestDb::empty(Kind::Postgres).await else {
        return;
    };
    tables(&t.db, "BIGINT").await;
    insert_things(&t, &[1, 2, 3, 4]).await;
    let s = bulkinup::upsert(&t.db, &registry(), "Thing", changed(4), &options())
        .await
        .expect("upsert");
    // Chunk 1: a probe finds all six notes, updated two rows a statement (3); chunk 2:
    // straight to the conflict clause, no probe, no COPY (3).
    assert_eq!(s.statements.get("notes"), Some(&7));
    assert_eq!(s.rows.get("notes"), Some(&12));
    assert_eq!(contents(&t).await, changed_things(4));
    t.cleanup().await;
}

#[tokio::test]
async fn an_upsert_of_new_and_existing_rows_copies_the_new_and_updates_the_existing() {
    let Some(t) = TestDb::empty(Kind::Postgres).await else {
        return;
    };
    tables(&t.db, "BIGINT").await;
    insert_things(&t, &[1, 3]).await;
    let s = bulkinup::upsert(&t.db, &registry(), "Thing", changed(4), &options())
        .await
        .expect("upsert");
    // Chunk 1: a probe finds thing 1's three notes, a COPY of thing 2's, thing 1's updated
    // two rows a statement (2); chunk 2: the same for things 3 and 4.
    assert_eq!(s.statements.get("notes"), Some(&8));
    assert_eq!(s.rows.get("notes"), Some(&12));
    assert_eq!(contents(&t).await, changed_things(4));
    t.cleanup().await;
}

#[tokio::test]
async fn an_upsert_with_do_nothing_copies_the_new_rows_and_leaves_the_existing_as_they_were() {
    let Some(t) = TestDb::empty(Kind::Postgres).await else {
        return;
    };
    tables(&t.db, "BIGINT").await;
    insert_things(&t, &[1, 3]).await;
    let nothing = options().on_conflict("Note", bulkinup::ConflictAction::Nothing);
    let s = bulkinup::upsert(&t.db, &registry(), "Thing", changed(4), &nothing)
        .await
        .expect("upsert");
    // Each chunk: a probe finds thing 1's (3's) notes, a COPY of thing 2's (4's); the
    // existing ones are not sent.
    assert_eq!(s.statements.get("notes"), Some(&4));
    let (_, notes) = contents(&t).await;
    let (_, before) = expected_things(4);
    let (_, after) = changed_things(4);
    let want = [&before[..3], &after[3..6], &before[6..9], &after[9..]].concat();
    assert_eq!(notes, want);
    t.cleanup().await;
}

#[tokio::test]
async fn bulkinup_copy_off_upserts_with_unnest_and_its_conflict_clause() {
    let Some(t) = TestDb::empty(Kind::Postgres).await else {
        return;
    };
    tables(&t.db, "BIGINT").await;
    let db = copy_off(&t).await;
    bulkinup::insert(&db, &registry(), "Thing", items(), &options())
        .await
        .expect("insert");
    let s = bulkinup::upsert(&db, &registry(), "Thing", changed_items(), &options())
        .await
        .expect("upsert");
    db.close().await;
    assert_eq!(s.statements.get("notes"), Some(&3));
    assert_eq!(contents(&t).await, changed_expected());
    t.cleanup().await;
}

/// Options of one chunk of 200 things (600 notes): batches larger than the probe's sample.
fn large() -> Options {
    Options::default().chunk_size(200)
}

#[tokio::test]
async fn a_large_batch_of_existing_rows_is_written_by_the_conflict_clause_after_one_probe() {
    let Some(t) = TestDb::empty(Kind::Postgres).await else {
        return;
    };
    tables(&t.db, "BIGINT").await;
    bulkinup::insert(&t.db, &registry(), "Thing", things(200), &large())
        .await
        .expect("the things before");
    let s = bulkinup::upsert(&t.db, &registry(), "Thing", changed(200), &large())
        .await
        .expect("upsert");
    // The sample of 64 notes all exist: 600 notes through the conflict clause, 200 a
    // statement (3), no full probe, no COPY.
    assert_eq!(s.statements.get("notes"), Some(&4));
    assert_eq!(s.statements.get("things"), Some(&2));
    assert_eq!(s.rows.get("notes"), Some(&600));
    assert_eq!(contents(&t).await, changed_things(200));
    t.cleanup().await;
}

#[tokio::test]
async fn a_large_batch_half_existing_is_probed_whole_after_its_sample() {
    let Some(t) = TestDb::empty(Kind::Postgres).await else {
        return;
    };
    tables(&t.db, "BIGINT").await;
    bulkinup::insert(&t.db, &registry(), "Thing", things(100), &large())
        .await
        .expect("the things before");
    let s = bulkinup::upsert(&t.db, &registry(), "Thing", changed(200), &large())
        .await
        .expect("upsert");
    // Notes: the sample finds 32 of 64, every row probed, the 300 new copied, the 300
    // existing updated 200 a statement (2).
    assert_eq!(s.statements.get("notes"), Some(&5));
    assert_eq!(s.statements.get("things"), Some(&4));
    assert_eq!(contents(&t).await, changed_things(200));
    t.cleanup().await;
}

#[tokio::test]
async fn an_existing_row_the_sample_missed_is_updated_after_the_refused_copy() {
    let Some(t) = TestDb::empty(Kind::Postgres).await else {
        return;
    };
    tables(&t.db, "BIGINT").await;
    // Note 11 is the batch's second row; the sample takes rows 0, 9, 18, …
    t.db.execute_script(
        "INSERT INTO things (id) VALUES (1);
         INSERT INTO notes (id, thing_id, body) VALUES (11, 1, 'before')",
    )
    .await
    .expect("thing 1 and note 11");
    let s = bulkinup::upsert(&t.db, &registry(), "Thing", changed(200), &large())
        .await
        .expect("upsert");
    // The sample finds none, the COPY of all 600 is refused on note 11, the batch goes
    // through the conflict clause 200 rows a statement (3).
    assert_eq!(s.statements.get("notes"), Some(&5));
    assert_eq!(s.rows.get("notes"), Some(&600));
    assert_eq!(contents(&t).await, changed_things(200));
    t.cleanup().await;
}

/// The race the fallback exists for: another transaction inserts a key after the probe
/// looked for it. Note 10 exists, so chunk 1's probe finds it and chunk 2's notes are probed
/// as well. The other transaction has inserted note 30 and not committed: the
/// probe cannot see it, so the call's `COPY` of chunk 2's notes waits for that transaction;
/// when it commits, the `COPY` fails on the duplicate key, is rolled back to its savepoint,
/// and the batch is written again with `ON CONFLICT … DO UPDATE`, which updates note 30.
#[tokio::test]
async fn a_key_another_transaction_inserted_after_the_probe_is_updated_by_the_conflict_clause() {
    let Some(t) = TestDb::empty(Kind::Postgres).await else {
        return;
    };
    tables(&t.db, "BIGINT").await;
    t.db.execute_script(
        "INSERT INTO things (id) VALUES (1), (2), (3), (4);
         INSERT INTO notes (id, thing_id, body) VALUES (10, 1, 'before')",
    )
    .await
    .expect("things and note 10");
    let mut holder = common::contention::Holder::begin(&t).await;
    holder
        .execute("INSERT INTO notes (id, thing_id, body) VALUES (30, 3, 'the other writer')")
        .await;
    let (registry, options) = (registry(), options());
    let call = bulkinup::upsert(&t.db, &registry, "Thing", changed(4), &options);
    let other = async {
        holder.wait_until_blocking(&t).await;
        let waiting = t
            .column(&format!(
                "SELECT query FROM pg_stat_activity WHERE {} = ANY(pg_blocking_pids(pid))",
                holder.session()
            ))
            .await;
        holder.commit().await;
        waiting
    };
    let (s, waiting) = tokio::join!(call, other);
    let s = s.expect("upsert");
    assert_eq!(waiting.len(), 1, "one session waited: {waiting:?}");
    let query = waiting[0].as_str().unwrap_or_default();
    assert!(query.starts_with("COPY "), "the call waited in {query}");
    // Chunk 1: the probe finds note 10, a COPY of the other five, note 10 updated (3);
    // chunk 2: the probe, the COPY refused after its wait, the batch through `unnest … ON
    // CONFLICT` two rows a statement (5).
    assert_eq!(s.statements.get("notes"), Some(&8));
    assert_eq!(s.rows.get("notes"), Some(&12));
    assert_eq!(contents(&t).await, changed_things(4));
    t.cleanup().await;
}

const METERS: &str = r#"
[schemas.Meter]
source = "meters"
fields = { id = "integer" }
[schemas.Meter.associations]
readings = { kind = "has_many", related = "Reading" }
[schemas.Meter.changesets.changeset]
cast = ["id"]
required = ["id"]
cast_assoc = ["readings"]

[schemas.Reading]
source = "readings"
fields = { id = "integer", meter_id = "integer", small = "integer", ratio = "float", total = "integer" }
[schemas.Reading.changesets.changeset]
cast = ["id", "meter_id", "small", "ratio", "total"]
required = ["id"]
"#;

fn meters_registry() -> Registry {
    Registry::from_toml_str(METERS, "meters.toml")
        .expect("the schema loads")
        .registry
}

/// Meters and their readings, in the narrower types of real schemas: `SERIAL`/`integer`
/// keys, `smallint`, `real`, `numeric(12,2)`.
async fn meter_tables(db: &Db) {
    db.execute_script(
        "CREATE TABLE meters (id INTEGER PRIMARY KEY);
         CREATE TABLE readings (id SERIAL PRIMARY KEY,
             meter_id INTEGER NOT NULL REFERENCES meters (id), small SMALLINT, ratio REAL,
             total NUMERIC(12, 2));",
    )
    .await
    .expect("the tables");
}

/// Meters 1..=n, each with three readings at the edges of their columns' ranges; `bad`
/// replaces reading attributes by reading id.
fn meters(n: i64, bad: &[(i64, &str, J)]) -> Vec<Item> {
    (1..=n)
        .map(|m| {
            let readings: Vec<J> = (0..3)
                .map(|r| {
                    let id = m * 10 + r;
                    let mut reading = match r {
                        0 => json!({"id": id, "meter_id": m, "small": 32767, "ratio": 0.5,
                                    "total": 12}),
                        1 => json!({"id": id, "meter_id": m, "small": -32768, "ratio": -1.5e38,
                                    "total": -9_999_999_999_i64}),
                        _ => json!({"id": id, "meter_id": m, "small": null, "ratio": 1e-40,
                                    "total": null}),
                    };
                    for (at, key, value) in bad {
                        if *at == id {
                            reading[*key] = value.clone();
                        }
                    }
                    reading
                })
                .collect();
            Item::from(json!({"id": m, "readings": readings}))
        })
        .collect()
}

/// Every reading, as text (`real` printed with its shortest exact digits).
async fn readings(t: &TestDb) -> Vec<J> {
    t.column(
        "SELECT concat_ws('|', id, meter_id, coalesce(small::text, 'NULL'), ratio::text,
             coalesce(total::text, 'NULL')) FROM readings ORDER BY id",
    )
    .await
}

fn expected_readings(n: i64) -> Vec<J> {
    (1..=n)
        .flat_map(|m| {
            [
                format!("{}|{m}|32767|0.5|12.00", m * 10),
                format!("{}|{m}|-32768|-1.5e+38|-9999999999.00", m * 10 + 1),
                format!("{}|{m}|NULL|1e-40|NULL", m * 10 + 2),
            ]
        })
        .map(J::String)
        .collect()
}

#[tokio::test]
async fn integer_smallint_real_and_numeric_columns_are_one_copy_per_chunk_with_every_value_as_written()
 {
    let Some(t) = TestDb::empty(Kind::Postgres).await else {
        return;
    };
    meter_tables(&t.db).await;
    let s = bulkinup::insert(
        &t.db,
        &meters_registry(),
        "Meter",
        meters(4, &[]),
        &options(),
    )
    .await
    .expect("insert");
    // Two chunks of two meters, six readings each: one COPY per chunk (unnest: three).
    assert_eq!(s.statements.get("readings"), Some(&2));
    assert_eq!(s.rows.get("readings"), Some(&12));
    assert_eq!(readings(&t).await, expected_readings(4));
    t.cleanup().await;
}

/// Inserts meters 1..=4 with `bad` readings into fresh tables, through `db` or, with `off`,
/// with `bulkinup_copy=off`: the error, and how many meters and readings are there after
/// (`None` without a PostgreSQL server to test on).
async fn insert_failing(bad: &[(i64, &str, J)], off: bool) -> Option<(bulkinup::Error, i64, i64)> {
    let t = TestDb::empty(Kind::Postgres).await?;
    meter_tables(&t.db).await;
    let db = if off {
        copy_off(&t).await
    } else {
        t.db.clone()
    };
    let e = bulkinup::insert(&db, &meters_registry(), "Meter", meters(4, bad), &options())
        .await
        .expect_err("a value out of range");
    if off {
        db.close().await;
    }
    let counts = (t.count("meters").await, t.count("readings").await);
    t.cleanup().await;
    Some((e, counts.0, counts.1))
}

#[tokio::test]
async fn a_value_beyond_int4_fails_the_call_as_with_bulkinup_copy_off() {
    let bad = [(31, "id", json!(2_147_483_648_i64))];
    let Some((with_copy, meters_after, readings_after)) = insert_failing(&bad, false).await else {
        return;
    };
    let (without, _, _) = insert_failing(&bad, true).await.expect("the server");
    assert_eq!(with_copy.db_kind(), Some(DbErrorKind::Other), "{with_copy}");
    assert_eq!(with_copy.table(), Some("readings"), "{with_copy}");
    let text = with_copy.to_string();
    assert!(text.contains("integer out of range"), "{text}");
    assert!(text.contains("primary key 3"), "{text}");
    assert_eq!(text, without.to_string());
    // Rolled back: nothing written.
    assert_eq!((meters_after, readings_after), (0, 0));
}

/// Inserts meters 1..=6 with `bad` readings and `on_error = reject` into fresh tables (as
/// [`insert_failing`]): each rejected item with its reject record's `errors`, and every
/// reading written.
/// With `upsert`, the same through an upsert (a probe, then `COPY` of the new rows).
async fn write_rejecting(
    upsert: bool,
    bad: &[(i64, &str, J)],
    off: bool,
) -> Option<(Vec<(J, J)>, Vec<J>)> {
    let t = TestDb::empty(Kind::Postgres).await?;
    meter_tables(&t.db).await;
    let db = if off {
        copy_off(&t).await
    } else {
        t.db.clone()
    };
    let seen: Arc<Mutex<Vec<(J, J)>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let options = options()
        .on_error(OnError::Reject)
        .on_rejected(move |rejected| {
            let mut sink = sink.lock().expect("the handler's list");
            sink.extend(
                rejected
                    .iter()
                    .map(|r| (r.item.attrs["id"].clone(), r.errors_json())),
            );
        });
    let (registry, items) = (meters_registry(), meters(6, bad));
    let s = if upsert {
        bulkinup::upsert(&db, &registry, "Meter", items, &options).await
    } else {
        bulkinup::insert(&db, &registry, "Meter", items, &options).await
    }
    .expect("insert");
    assert_eq!(s.rejected, bad.len() as u64);
    if off {
        db.close().await;
    }
    let written = readings(&t).await;
    t.cleanup().await;
    let seen = seen.lock().expect("the handler's list").clone();
    Some((seen, written))
}

#[tokio::test]
async fn with_reject_values_beyond_smallint_real_and_numeric_are_set_aside_as_with_bulkinup_copy_off()
 {
    rejects_as_with_copy_off(false).await;
}

#[tokio::test]
async fn an_upsert_with_reject_sets_aside_values_beyond_their_columns_as_with_bulkinup_copy_off() {
    rejects_as_with_copy_off(true).await;
}

/// Values beyond `smallint`, `real` and `numeric(12, 2)` written (`upsert` or insert) with
/// `on_error = reject`, with and without `COPY`: the same reject records and rows.
async fn rejects_as_with_copy_off(upsert: bool) {
    // Beyond `numeric(12, 2)`: COPY sends it (a numeric holds any integer), and the server's
    // check of the column's precision refuses it as its cast does.
    let bad = [
        (12, "small", json!(32768)),
        (40, "ratio", json!(1e39)),
        (50, "total", json!(10_000_000_000_i64)),
    ];
    let Some((with_copy, written)) = write_rejecting(upsert, &bad, false).await else {
        return;
    };
    let (without, written_without) = write_rejecting(upsert, &bad, true)
        .await
        .expect("the server");
    let got: Vec<(J, J, J)> = with_copy
        .iter()
        .map(|(id, e)| {
            (
                id.clone(),
                e["database"]["code"].clone(),
                e["database"]["message"].clone(),
            )
        })
        .collect();
    let out_of_range = |id: i64, message: &str| (json!(id), json!("22003"), json!(message));
    assert_eq!(
        got,
        vec![
            out_of_range(1, "smallint out of range"),
            out_of_range(4, "value out of range: overflow"),
            out_of_range(5, "numeric field overflow"),
        ]
    );
    assert_eq!(with_copy, without);
    // Meters 2, 3 and 6 and their readings are written.
    let want: Vec<J> = expected_readings(6)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| (3..9).contains(i) || *i >= 15)
        .map(|(_, r)| r)
        .collect();
    assert_eq!(written, want);
    assert_eq!(written_without, want);
}
