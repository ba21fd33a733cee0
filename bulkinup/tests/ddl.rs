//! `bulkinup::ddl` and `bulkinup::apply_ddl` on every database: the tables created take the
//! writes of their schemas, pass the schema check, and refuse what the schema forbids. The
//! catalog read of the tables that exist comes first: on a server that stalls or drops it,
//! the call fails before any statement; the call's `timeout` bounds it and the statements
//! together; a prefix that does not exist yet is created with its tables.

mod common;

use bulkinup::{DdlStatement, Error, Options, Registry};
use common::{Kind, TestDb};
use serde_json::json;

/// A generated key with a JSON column and a required field, a self-referencing
/// many_to_many with a `join_defaults` column, a composite primary key, an embed, and a
/// conflict target.
const SCHEMAS: &str = r#"
[schemas.Country]
source = "countries"
fields = { id = { type = "id", autogenerate = true }, code = "string", meta = "map", founded = "date" }
[schemas.Country.associations]
neighbours = { kind = "many_to_many", related = "Country", join_through = "borders", join_keys = [["country_id", "id"], ["neighbour_id", "id"]], join_defaults = { since = "now()" } }
capital = { kind = "embeds_one", related = "City" }
[schemas.Country.changesets.changeset]
cast = ["code", "meta", "founded"]
required = ["code"]
cast_assoc = ["neighbours"]
cast_embed = ["capital"]

[schemas.City]
embedded = true
primary_key = []
fields = { name = "string" }

[schemas.Reading]
source = "readings"
primary_key = ["station", "day"]
fields = { station = "string", day = "date", value = "decimal" }

[schemas.Setting]
source = "settings"
fields = { id = "id", name = "string", value = "string" }
"#;

fn registry() -> Registry {
    Registry::from_toml_str(SCHEMAS, "ddl.toml")
        .expect("the test schemas load")
        .registry
}

fn options() -> Options {
    Options::default().conflict_target("Setting", ["name"])
}

on_every_database!(empty:
    the_tables_created_take_the_writes_and_pass_the_check,
    a_required_field_is_not_null_and_a_conflict_target_is_unique,
    a_second_apply_changes_nothing,
);

/// The statements of the test schemas, applied: the tables they created.
async fn apply(t: &TestDb) -> Vec<String> {
    let statements = bulkinup::ddl(&registry(), t.db.kind(), &options()).expect("ddl");
    bulkinup::apply_ddl(&t.db, &statements, &options())
        .await
        .expect("apply")
}

async fn the_tables_created_take_the_writes_and_pass_the_check(t: &TestDb) {
    apply(t).await;
    let registry = registry();
    assert_eq!(
        bulkinup::catalog::check(&t.db, &registry, None)
            .await
            .expect("check"),
        []
    );
    let items = [
        json!({"code": "FR", "meta": {"eu": true}, "founded": "0843-08-10", "capital": {"name": "Paris"},
               "neighbours": [{"code": "BE"}, {"code": "DE"}]}),
    ];
    let summary = bulkinup::insert(&t.db, &registry, "Country", items, &Options::default())
        .await
        .expect("insert");
    assert_eq!(summary.skipped, 0);
    // The generated keys, the JSON columns and the self-referencing join rows.
    assert_eq!(
        t.column("SELECT code FROM countries ORDER BY id").await,
        [json!("FR"), json!("BE"), json!("DE")]
    );
    assert_eq!(
        t.column("SELECT meta FROM countries WHERE code = 'FR'")
            .await,
        [json!({"eu": true})]
    );
    assert_eq!(
        t.column("SELECT capital FROM countries WHERE code = 'FR'")
            .await,
        [json!({"name": "Paris"})]
    );
    assert_eq!(t.count("borders").await, 2);
    assert_eq!(
        t.column("SELECT count(*) FROM borders WHERE since IS NOT NULL")
            .await,
        [json!(2)]
    );
    // The composite primary key: the second write of a key updates its row.
    for value in ["1.50", "2.25"] {
        let item = json!({"station": "A", "day": "2024-01-01", "value": value});
        bulkinup::upsert(&t.db, &registry, "Reading", [item], &Options::default())
            .await
            .expect("upsert");
    }
    assert_eq!(t.count("readings").await, 1);
    // Exact on every database (SQLite: its digits as text; MySQL pads the scale).
    let stored = t.column("SELECT value FROM readings").await;
    let digits = stored[0]
        .as_str()
        .map(|s| s.trim_end_matches('0').to_string());
    assert_eq!(digits.as_deref(), Some("2.25"), "{stored:?}");
}

async fn a_required_field_is_not_null_and_a_conflict_target_is_unique(t: &TestDb) {
    apply(t).await;
    let null =
        t.db.execute_script("INSERT INTO countries (code) VALUES (NULL)")
            .await;
    assert!(
        matches!(&null, Err(Error::Database { .. })),
        "NULL code: {null:?}"
    );
    t.db.execute_script("INSERT INTO settings (id, name, value) VALUES (1, 'theme', 'dark')")
        .await
        .expect("a setting");
    let twice =
        t.db.execute_script("INSERT INTO settings (id, name, value) VALUES (2, 'theme', 'light')")
            .await;
    assert!(
        matches!(&twice, Err(Error::Database { .. })),
        "a second `theme`: {twice:?}"
    );
    // An upsert on the conflict target finds the row by its key.
    let item = json!({"id": 1, "name": "theme", "value": "light"});
    bulkinup::upsert(&t.db, &registry(), "Setting", [item], &options())
        .await
        .expect("upsert on key");
    assert_eq!(
        t.column("SELECT value FROM settings").await,
        [json!("light")]
    );
}

async fn a_second_apply_changes_nothing(t: &TestDb) {
    assert_eq!(
        apply(t).await,
        ["countries", "borders", "readings", "settings"]
    );
    t.db.execute_script("INSERT INTO settings (id, name, value) VALUES (1, 'theme', 'dark')")
        .await
        .expect("a setting");
    assert!(apply(t).await.is_empty(), "every table exists");
    assert_eq!(t.count("settings").await, 1);
    assert!(
        bulkinup::catalog::check(&t.db, &registry(), None)
            .await
            .expect("check")
            .is_empty()
    );
}

mod transactional {
    use super::*;

    on_every_database!(empty: a_failure_half_way_leaves_no_table_behind);

    /// PostgreSQL and SQLite roll the whole DDL back; MySQL/MariaDB keep the statements
    /// before the failing one (each DDL statement commits).
    async fn a_failure_half_way_leaves_no_table_behind(t: &TestDb) {
        let mut statements = bulkinup::ddl(&registry(), t.db.kind(), &options()).expect("ddl");
        statements.push(DdlStatement::new(
            "broken",
            "CREATE TABLE broken (x INTEGER REFERENCES",
        ));
        let failed = bulkinup::apply_ddl(&t.db, &statements, &options()).await;
        match &failed {
            Err(Error::Database { table, .. }) => assert_eq!(table.as_deref(), Some("broken")),
            other => panic!("expected a database error, got {other:?}"),
        }
        let left = t.db.fetch_json("SELECT count(*) AS n FROM countries").await;
        if t.kind == Kind::MySql {
            assert!(left.is_ok(), "MySQL commits each DDL statement");
        } else {
            assert!(left.is_err(), "no table is left behind: {left:?}");
        }
    }
}

/// The catalog read that finds the tables that exist comes before any statement, within the
/// call's deadline: one that fails is the call's error and nothing is created; the call's
/// `timeout` bounds the read and the statements together. The server's failures are a
/// local TCP proxy in front of it, acting when the catalog's column query is sent.
mod catalog_read {
    use std::time::Duration;

    use bulkinup::{Db, Waited};

    use crate::common::{StallProxy, timed_error};

    use super::*;

    on_database_servers!(empty:
        a_stalled_catalog_read_times_out_at_statement_timeout_and_creates_no_table,
        a_catalog_read_whose_connection_drops_fails_with_the_database_error_and_creates_no_table,
        the_timeout_bounds_the_catalog_read_and_the_statements_together,
        a_prefix_that_does_not_exist_yet_is_created_with_its_tables_returned_as_created,
    );

    /// Sent in the catalog's column query of every database, in no DDL statement.
    const CATALOG_QUERY: &[u8] = b"column_name";

    /// A proxy in front of the test's server, and a connection pool through it.
    async fn through_proxy(t: &TestDb) -> (StallProxy, Db) {
        let proxy = StallProxy::start(&t.url);
        let db = Db::connect(&proxy.url(&t.url))
            .await
            .expect("connects through the proxy");
        (proxy, db)
    }

    /// How many tables the test's own schema (PostgreSQL) or database (MySQL) has.
    async fn tables(t: &TestDb) -> Vec<serde_json::Value> {
        let place = match t.kind {
            Kind::Postgres => "current_schema()",
            _ => "DATABASE()",
        };
        t.column(&format!(
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = {place}"
        ))
        .await
    }

    /// Only the catalog read's connection stalls: the statements, on another, would go
    /// through if the call ran them.
    async fn a_stalled_catalog_read_times_out_at_statement_timeout_and_creates_no_table(
        t: &TestDb,
    ) {
        let (proxy, db) = through_proxy(t).await;
        proxy.stall_connection_on(CATALOG_QUERY);
        let opts = options()
            .timeout(Some(Duration::from_secs(60)))
            .statement_timeout(Some(Duration::from_secs(1)));
        let statements = bulkinup::ddl(&registry(), db.kind(), &opts).expect("ddl");
        let (err, elapsed) = timed_error(bulkinup::apply_ddl(&db, &statements, &opts)).await;
        assert_eq!(proxy.triggered(), 1, "the catalog query was sent once");
        assert!(
            matches!(
                &err,
                Error::Timeout { seconds, option: "statement_timeout", table: None, waited: Waited::Query }
                    if *seconds == 1.0
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "timed out after 1 s (statement_timeout): the server did not answer the query \
             within 1 s, so it was abandoned and its connection closed; it ran outside any \
             transaction"
        );
        // The limit and its grace (a tenth).
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        assert_eq!(tables(t).await, [json!(0)]);
    }

    async fn a_catalog_read_whose_connection_drops_fails_with_the_database_error_and_creates_no_table(
        t: &TestDb,
    ) {
        let (proxy, db) = through_proxy(t).await;
        proxy.close_on(CATALOG_QUERY);
        let statements = bulkinup::ddl(&registry(), db.kind(), &options()).expect("ddl");
        let (err, _) = timed_error(bulkinup::apply_ddl(&db, &statements, &options())).await;
        assert_eq!(proxy.triggered(), 1, "the catalog query was sent once");
        assert!(
            matches!(&err, Error::Database { table: None, .. }),
            "{err:?}"
        );
        assert_eq!(tables(t).await, [json!(0)]);
    }

    /// The catalog read answers after 2 s of a 3 s `timeout`; the first `CREATE TABLE` then
    /// gets what remains (about 1 s), not 3 s of its own.
    async fn the_timeout_bounds_the_catalog_read_and_the_statements_together(t: &TestDb) {
        let (proxy, db) = through_proxy(t).await;
        proxy.delay_on(CATALOG_QUERY, Duration::from_secs(2));
        proxy.stall_on(b"CREATE TABLE");
        let opts = options()
            .timeout(Some(Duration::from_secs(3)))
            .statement_timeout(None);
        let statements = bulkinup::ddl(&registry(), db.kind(), &opts).expect("ddl");
        let (err, elapsed) = timed_error(bulkinup::apply_ddl(&db, &statements, &opts)).await;
        assert!(
            proxy.stalled(),
            "the proxy stalled at the first CREATE TABLE"
        );
        assert!(
            matches!(
                &err,
                Error::Timeout { seconds, option: "timeout", table: Some(table), waited: Waited::Answer }
                    if *seconds == 3.0 && table == "countries"
            ),
            "{err:?}"
        );
        assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
        drop(proxy); // the server sees the session end
        assert_eq!(tables(t).await, [json!(0)]);
    }

    /// A PostgreSQL schema or MySQL database that does not exist: its catalog lists no
    /// table, and the statements create it and its tables.
    async fn a_prefix_that_does_not_exist_yet_is_created_with_its_tables_returned_as_created(
        t: &TestDb,
    ) {
        // The test's second place, which its cleanup drops.
        let prefix = format!("{}_x", t.default_prefix());
        let opts = options().prefix(prefix.as_str());
        let statements = bulkinup::ddl(&registry(), t.db.kind(), &opts).expect("ddl");
        let created = bulkinup::apply_ddl(&t.db, &statements, &opts)
            .await
            .expect("apply");
        let expected: Vec<String> = ["countries", "borders", "readings", "settings"]
            .iter()
            .map(|table| format!("{prefix}.{table}"))
            .collect();
        assert_eq!(created, expected);
        assert_eq!(
            crate::common::count_in(&t.db, &format!("{prefix}.settings")).await,
            0
        );
        assert!(
            bulkinup::apply_ddl(&t.db, &statements, &opts)
                .await
                .expect("apply again")
                .is_empty(),
            "every table exists"
        );
    }
}

/// SQLite's prefixes are the databases the URL attaches: the statements cannot create one.
#[tokio::test]
async fn sqlite_a_prefix_not_attached_fails_at_its_first_table_naming_it() {
    let Some(t) = TestDb::empty(Kind::Sqlite).await else {
        return;
    };
    let opts = options().prefix("aux");
    let statements = bulkinup::ddl(&registry(), t.db.kind(), &opts).expect("ddl");
    let err = bulkinup::apply_ddl(&t.db, &statements, &opts)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Database { table: Some(table), message, .. }
            if table == "aux.countries" && message.contains("unknown database")),
        "{err:?}"
    );
    t.cleanup().await;
}
