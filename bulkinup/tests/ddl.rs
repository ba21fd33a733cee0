//! `bulkinup::ddl` and `bulkinup::apply_ddl` on every database: the tables created take the
//! writes of their schemas, pass the schema check, and refuse what the schema forbids.

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
