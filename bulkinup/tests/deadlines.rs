//! The client's deadlines: a statement the server does not answer is abandoned when
//! `statement_timeout` (or what remains of `timeout`) runs out, whatever the server or the
//! network does — the call fails with `Error::Timeout` naming the table, its connection is
//! closed instead of going back to the pool, and nothing is committed. The stall is a local
//! TCP proxy in front of the real server that stops forwarding when the statement writing
//! `posts` is sent. On SQLite, the busy wait for another writer's lock follows the limit.
//! The catalog's reads (schema inference and checks), the bounded queries of `Db` and its
//! close are bounded the same way.

mod common;

use std::time::{Duration, Instant};

use bulkinup::{Db, Error, Options, Waited};
use common::{Kind, StallProxy, TestDb, ends, timed_error};
use serde_json::json;
use sqlx::Connection;

on_database_servers!(blog:
    a_stalled_statement_times_out_at_statement_timeout_while_timeout_is_long_and_nothing_is_committed,
    a_stalled_statement_times_out_when_the_remaining_timeout_runs_out_first,
    the_connection_of_an_abandoned_statement_is_closed_and_the_next_call_writes_on_a_new_one,
    a_stalled_commit_times_out_saying_its_outcome_is_unknown,
    a_statement_the_server_cancels_at_statement_timeout_is_reported_as_the_servers_answer,
    a_call_its_caller_drops_mid_statement_closes_its_connection,
    a_stalled_catalog_query_of_infer_times_out_naming_statement_timeout,
    a_stalled_json_column_sample_of_infer_times_out_at_the_timeout,
    a_stalled_catalog_query_of_check_times_out_naming_timeout,
    a_stalled_fetch_json_within_times_out_and_closes_its_connection,
    a_stalled_execute_script_within_times_out,
    close_returns_within_its_limit_while_a_query_hangs_on_a_stalled_connection,
);

/// A proxy in front of the test's server that stalls when a client sends `trigger`, and a
/// connection pool through it.
async fn stalling_at(t: &TestDb, trigger: &[u8]) -> (StallProxy, Db) {
    let proxy = StallProxy::start(&t.url);
    let db = Db::connect(&proxy.url(&t.url))
        .await
        .expect("connects through the proxy");
    proxy.stall_on(trigger);
    (proxy, db)
}

/// Whether `err` is a timeout of a query run on its own, set by `option` at `seconds`.
fn is_query_timeout(err: &Error, option: &str, seconds: f64) -> bool {
    matches!(
        err,
        Error::Timeout { option: o, seconds: s, table: None, waited: Waited::Query }
            if *o == option && *s == seconds
    )
}

/// One author with one post: the statement writing `posts` is the second one of the call.
fn author_with_a_post(id: i64) -> serde_json::Value {
    json!({"id": id, "name": "A", "posts": [{"id": id, "author_id": id, "title": "t"}]})
}

/// An upsert of one author with a post that fails: its error (shown), and how long it took.
async fn failing_upsert(db: &Db, id: i64, opts: &Options) -> (Error, Duration) {
    let started = Instant::now();
    let err = bulkinup::upsert(
        db,
        &common::blog(),
        "Author",
        vec![author_with_a_post(id)],
        opts,
    )
    .await
    .unwrap_err();
    let elapsed = started.elapsed();
    eprintln!("{err} after {elapsed:?}");
    (err, elapsed)
}

/// A proxy in front of the test's server, that stalls when the statement writing `posts` is
/// sent, and a connection pool through it.
async fn stalling_at_posts(t: &TestDb) -> (StallProxy, Db) {
    let proxy = StallProxy::start(&t.url);
    let db = Db::connect(&proxy.url(&t.url))
        .await
        .expect("connects through the proxy");
    proxy.stall_on(b"posts");
    (proxy, db)
}

async fn a_stalled_statement_times_out_at_statement_timeout_while_timeout_is_long_and_nothing_is_committed(
    t: &TestDb,
) {
    let (proxy, db) = stalling_at_posts(t).await;
    let opts = Options::default()
        .timeout(Some(Duration::from_secs(60)))
        .statement_timeout(Some(Duration::from_secs(1)));
    let (err, elapsed) = failing_upsert(&db, 1, &opts).await;
    assert!(proxy.stalled(), "the proxy stalled at the posts statement");
    assert!(
        matches!(
            &err,
            Error::Timeout { seconds, option: "statement_timeout", table: Some(table), waited: Waited::Answer }
                if table == "posts" && *seconds == 1.0
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("the server did not answer within 1 s"),
        "{err}"
    );
    assert_eq!(err.exit_code(), 1);
    // The limit and its grace (a tenth), not the call's 60 s.
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    drop(proxy); // the server sees the session end and rolls it back
    assert_eq!(t.count("authors").await, 0);
    assert_eq!(t.count("posts").await, 0);
}

async fn a_stalled_statement_times_out_when_the_remaining_timeout_runs_out_first(t: &TestDb) {
    let (proxy, db) = stalling_at_posts(t).await;
    let opts = Options::default()
        .timeout(Some(Duration::from_secs(2)))
        .statement_timeout(Some(Duration::from_secs(60)));
    let (err, elapsed) = failing_upsert(&db, 1, &opts).await;
    assert!(
        matches!(
            &err,
            Error::Timeout { seconds, option: "timeout", table: Some(table), waited: Waited::Answer }
                if table == "posts" && *seconds == 2.0
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("the server did not answer before the call's time ran out"),
        "{err}"
    );
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    drop(proxy);
    assert_eq!(t.count("authors").await, 0);
}

async fn the_connection_of_an_abandoned_statement_is_closed_and_the_next_call_writes_on_a_new_one(
    t: &TestDb,
) {
    let (proxy, db) = stalling_at_posts(t).await;
    let opts = Options::default().statement_timeout(Some(Duration::from_millis(500)));
    let closed_before = proxy.closed(); // connecting closes a first, direct connection
    let (err, _) = failing_upsert(&db, 1, &opts).await;
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    // Returned to the pool, the connection would stay open (sqlx pings it, and the ping
    // never gets an answer); closed, the proxy sees its client go.
    assert!(
        proxy.closed_by_client(closed_before + 1, Duration::from_secs(2)) > closed_before,
        "the abandoned connection was closed"
    );
    proxy.resume_new();
    let summary = bulkinup::upsert(
        &db,
        &common::blog(),
        "Author",
        vec![author_with_a_post(2)],
        &opts,
    )
    .await
    .expect("the next call writes on a new connection");
    assert_eq!(summary.written, 1);
    drop(proxy);
    assert_eq!(t.column("SELECT id FROM authors").await, [json!(2)]);
}

async fn a_call_its_caller_drops_mid_statement_closes_its_connection(t: &TestDb) {
    let (proxy, db) = stalling_at_posts(t).await;
    // No limits: only the caller's own timeout ends the call.
    let opts = Options::default().timeout(None);
    let closed_before = proxy.closed();
    let (registry, items) = (common::blog(), vec![author_with_a_post(1)]);
    let call = bulkinup::upsert(&db, &registry, "Author", items, &opts);
    let dropped = tokio::time::timeout(Duration::from_millis(500), call).await;
    assert!(dropped.is_err(), "the stalled call was still waiting");
    assert!(
        proxy.closed_by_client(closed_before + 1, Duration::from_secs(2)) > closed_before,
        "the connection of the dropped call was closed"
    );
    drop(proxy);
    assert_eq!(t.count("authors").await, 0);
}

async fn a_stalled_commit_times_out_saying_its_outcome_is_unknown(t: &TestDb) {
    let proxy = StallProxy::start(&t.url);
    let db = Db::connect(&proxy.url(&t.url))
        .await
        .expect("connects through the proxy");
    proxy.stall_on(b"COMMIT");
    let opts = Options::default().statement_timeout(Some(Duration::from_millis(500)));
    let (err, _) = failing_upsert(&db, 1, &opts).await;
    assert!(
        matches!(
            &err,
            Error::Timeout {
                table: None,
                waited: Waited::CommitAnswer,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("whether the transaction was committed is unknown"),
        "{err}"
    );
    drop(proxy);
    // The proxy never passed the COMMIT on: here it was not committed.
    assert_eq!(t.count("authors").await, 0);
}

async fn a_statement_the_server_cancels_at_statement_timeout_is_reported_as_the_servers_answer(
    t: &TestDb,
) {
    // A statement that runs (not a stall): the server answers with its own cancellation at
    // the limit, within the client's grace.
    let slow = match t.kind {
        Kind::Postgres => {
            "CREATE FUNCTION slow_insert() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(5); RETURN NEW; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER slow_posts BEFORE INSERT ON posts FOR EACH ROW EXECUTE FUNCTION slow_insert();"
        }
        _ => "CREATE TRIGGER slow_posts BEFORE INSERT ON posts FOR EACH ROW SET @slept = SLEEP(5)",
    };
    t.db.execute_script(slow).await.expect("a slow trigger");
    let opts = Options::default().statement_timeout(Some(Duration::from_secs(2)));
    let (err, elapsed) = failing_upsert(&t.db, 1, &opts).await;
    assert!(
        matches!(
            &err,
            Error::Timeout { option: "statement_timeout", table: Some(table), waited: Waited::ServerLimit, .. }
                if table == "posts"
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("the database cancelled the statement at its limit"),
        "{err}"
    );
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    assert_eq!(t.count("authors").await, 0);
}

/// A short statement limit bounds each statement, not the call: many statements write.
mod every_database {
    use super::*;

    on_every_database!(blog: a_short_statement_timeout_still_writes);

    async fn a_short_statement_timeout_still_writes(t: &TestDb) {
        let opts = Options::default()
            .timeout(None)
            .statement_timeout(Some(Duration::from_secs(2)));
        let items: Vec<_> = (1..=20).map(author_with_a_post).collect();
        let summary = bulkinup::upsert(&t.db, &common::blog(), "Author", items, &opts)
            .await
            .expect("writes");
        assert_eq!(summary.written, 20);
        assert_eq!(t.count("posts").await, 20);
    }
}

// ---------------------------------------------------------------------------------------
// SQLite: the busy wait for a lock held by another writer follows the limit.

/// An upsert of one author with a post while a second connection to the test's SQLite file
/// holds its write lock: the error and how long it took. Nothing was written.
async fn upsert_while_another_writer_holds_the_lock(
    t: &TestDb,
    opts: &Options,
) -> (Error, Duration) {
    let mut holder = sqlx::SqliteConnection::connect(&t.url)
        .await
        .expect("a second connection");
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .expect("takes the write lock");
    let failed = failing_upsert(&t.db, 1, opts).await;
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("releases the lock");
    assert_eq!(t.count("authors").await, 0);
    failed
}

#[tokio::test]
async fn sqlite_a_write_lock_held_by_another_writer_times_out_at_statement_timeout_naming_the_table()
 {
    let Some(t) = TestDb::blog(Kind::Sqlite).await else {
        return;
    };
    let opts = Options::default()
        .timeout(Some(Duration::from_secs(60)))
        .statement_timeout(Some(Duration::from_millis(700)));
    let (err, elapsed) = upsert_while_another_writer_holds_the_lock(&t, &opts).await;
    assert!(
        matches!(
            &err,
            Error::Timeout { option: "statement_timeout", table: Some(table), waited: Waited::Lock, .. }
                if table == "authors"
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("waited 0.7 s for a lock held by another writer"),
        "{err}"
    );
    assert!(elapsed >= Duration::from_millis(700), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    t.cleanup().await;
}

#[tokio::test]
async fn sqlite_a_write_lock_held_by_another_writer_times_out_at_the_timeout_when_it_is_shorter() {
    let Some(t) = TestDb::blog(Kind::Sqlite).await else {
        return;
    };
    // No statement limit of its own: the busy wait follows the timeout (not SQLite's 5 s).
    let opts = Options::default().timeout(Some(Duration::from_millis(800)));
    let (err, elapsed) = upsert_while_another_writer_holds_the_lock(&t, &opts).await;
    assert!(
        matches!(
            &err,
            Error::Timeout { option: "timeout", table: Some(table), waited: Waited::Lock, .. }
                if table == "authors"
        ),
        "{err:?}"
    );
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    t.cleanup().await;
}

#[test]
fn statement_timeout_zero_is_refused_naming_the_option() {
    let registry = common::blog();
    let opts = Options::default().statement_timeout(Some(Duration::ZERO));
    let err = opts
        .validate(&registry, bulkinup::Verb::Upsert, "Author")
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidOption { name, .. } if name == "statement_timeout"),
        "{err:?}"
    );
}

#[test]
fn the_command_line_sets_no_call_timeout_and_a_60_s_statement_timeout_under_the_schema_file_and_the_flags()
 {
    use bulkinup::options::{Flags, Layer};
    let registry = common::blog();
    let now = chrono::Utc::now();
    let secs = |s: u64| Some(Duration::from_secs(s));
    // (timeout, statement_timeout) resolved from the layers
    let resolve = |layer: Layer| {
        let options = layer
            .resolve(&registry, bulkinup::Verb::Upsert, "Author", false, now)
            .expect("resolves");
        (options.timeout, options.statement_timeout)
    };
    let library = Options::default();
    assert_eq!(
        (library.timeout, library.statement_timeout),
        (secs(15), None)
    );
    assert_eq!(resolve(Layer::default()), (secs(15), None));
    assert_eq!(resolve(Layer::command_line_defaults()), (None, secs(60)));
    let file = bulkinup::Registry::from_toml_str(
        "[schemas.Tag]\nsource = \"tags\"\nfields = { id = \"integer\" }\n\
         [schemas.Tag.changesets.changeset]\ncast = [\"id\"]\n\
         [options]\ntimeout = 5\nstatement_timeout = 2\n",
        "defaults.toml",
    )
    .expect("loads");
    let (shared, per_verb) =
        bulkinup::options::schema_file_layers(&file, "defaults.toml", bulkinup::Verb::Upsert)
            .expect("layers");
    let under_file = Layer::command_line_defaults()
        .overlay(shared.clone())
        .overlay(per_verb.clone());
    assert_eq!(resolve(under_file), (secs(5), secs(2)));
    let mut flags = Flags::default();
    flags.timeout = Some("30".into());
    flags.statement_timeout = Some("infinity".into());
    let flags = Layer::from_flags(&flags, bulkinup::Verb::Upsert).expect("flags");
    let all = Layer::command_line_defaults()
        .overlay(shared)
        .overlay(per_verb)
        .overlay(flags);
    assert_eq!(resolve(all), (secs(30), None));
}

#[tokio::test]
async fn postgres_sessions_ask_the_server_for_tcp_keepalive_probes() {
    let Some(t) = TestDb::empty(Kind::Postgres).await else {
        return;
    };
    let rows = t
        .column(
            "SELECT current_setting('tcp_keepalives_idle') || '/' || current_setting('tcp_keepalives_interval') \
             || '/' || current_setting('tcp_keepalives_count') AS k",
        )
        .await;
    assert_eq!(rows, [json!("30/10/3")]);
    t.cleanup().await;
}

async fn a_stalled_catalog_query_of_infer_times_out_naming_statement_timeout(t: &TestDb) {
    let (proxy, db) = stalling_at(t, b"column_name").await;
    let opts = Options::default()
        .timeout(None)
        .statement_timeout(Some(Duration::from_secs(1)));
    let (err, elapsed) = timed_error(bulkinup::catalog::infer_with(&db, None, None, &opts)).await;
    assert!(proxy.stalled(), "the proxy stalled at the catalog query");
    assert!(is_query_timeout(&err, "statement_timeout", 1.0), "{err:?}");
    assert!(elapsed < Duration::from_secs(1 + 3), "{elapsed:?}");
}

/// The samples of the JSON columns (the blog's `address`, `social_links`) come after the
/// catalog's queries, within what remains of the same `timeout`.
async fn a_stalled_json_column_sample_of_infer_times_out_at_the_timeout(t: &TestDb) {
    let (proxy, db) = stalling_at(t, b" AS c0").await;
    let opts = Options::default().timeout(Some(Duration::from_secs(2)));
    let (err, elapsed) = timed_error(bulkinup::catalog::infer_with(&db, None, None, &opts)).await;
    assert!(
        proxy.stalled(),
        "the proxy stalled at a JSON column's sample"
    );
    assert!(is_query_timeout(&err, "timeout", 2.0), "{err:?}");
    assert!(elapsed < Duration::from_secs(2 + 3), "{elapsed:?}");
}

async fn a_stalled_catalog_query_of_check_times_out_naming_timeout(t: &TestDb) {
    let (proxy, db) = stalling_at(t, b"column_name").await;
    let opts = Options::default().timeout(Some(Duration::from_secs(1)));
    let registry = common::blog();
    let (err, elapsed) =
        timed_error(bulkinup::catalog::check_with(&db, &registry, None, &opts)).await;
    assert!(proxy.stalled(), "the proxy stalled at the catalog query");
    assert!(is_query_timeout(&err, "timeout", 1.0), "{err:?}");
    assert!(elapsed < Duration::from_secs(1 + 3), "{elapsed:?}");
}

async fn a_stalled_fetch_json_within_times_out_and_closes_its_connection(t: &TestDb) {
    let (proxy, db) = stalling_at(t, b"stall_here").await;
    let closed_before = proxy.closed();
    let opts = Options::default().statement_timeout(Some(Duration::from_millis(500)));
    let err = ends(db.fetch_json_within("SELECT 1 AS stall_here", &opts))
        .await
        .unwrap_err();
    assert!(is_query_timeout(&err, "statement_timeout", 0.5), "{err:?}");
    assert!(
        proxy.closed_by_client(closed_before + 1, Duration::from_secs(2)) > closed_before,
        "the abandoned query's connection was closed"
    );
}

async fn a_stalled_execute_script_within_times_out(t: &TestDb) {
    let (proxy, db) = stalling_at(t, b"stall_here").await;
    let opts = Options::default().timeout(Some(Duration::from_millis(500)));
    let started = Instant::now();
    let err = ends(db.execute_script_within("CREATE TABLE stall_here (id INTEGER)", &opts))
        .await
        .unwrap_err();
    assert!(is_query_timeout(&err, "timeout", 0.5), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    drop(proxy);
}

/// A connection still in use (an unbounded query on a stalled server) keeps the pool from
/// closing: `Db::close` gives up on it after its 5 s.
async fn close_returns_within_its_limit_while_a_query_hangs_on_a_stalled_connection(t: &TestDb) {
    let (proxy, db) = stalling_at(t, b"stall_here").await;
    let hung = db.clone();
    let query = tokio::spawn(async move { hung.fetch_json("SELECT 1 AS stall_here").await });
    let sent = Instant::now();
    while !proxy.stalled() {
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "the query was never sent"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    ends(db.close()).await;
    let elapsed = started.elapsed();
    eprintln!("closed after {elapsed:?}");
    assert!(elapsed < Duration::from_secs(5 + 2), "{elapsed:?}");
    assert!(
        !query.is_finished(),
        "the query still hangs: only the close gave up"
    );
    query.abort();
}
