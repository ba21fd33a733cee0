//! `bulkinup upsert` of a countries feed as it comes (`bulkinup/tests/data`): languages and
//! currencies keyed by code, top-level domains as an array of strings, borders as a
//! link-only self-referencing `many_to_many` — on SQLite, PostgreSQL and MariaDB/MySQL.

mod common;

use std::path::Path;

use common::TestDb;
use serde_json::{Value as J, json};

/// A file of the library's test data.
fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../bulkinup/tests/data")
        .join(name)
        .display()
        .to_string()
}

on_every_database!(empty: the_countries_feed_loads_as_it_comes);

async fn the_countries_feed_loads_as_it_comes(t: &TestDb) {
    let ddl = std::fs::read_to_string(data("countries.sql")).unwrap();
    t.db.execute_script(&ddl).await.unwrap();
    let (schema, input) = (data("countries.toml"), data("countries.ndjson"));
    let upsert = |rest: &[&str]| {
        let mut args = vec!["upsert", "--schema", &schema, "--root", "Country", &input];
        args.extend_from_slice(rest);
        t.run(&args)
    };

    // One item per chunk: Belgium's borders (line 1) point at countries not written yet.
    let out = upsert(&["--chunk-size", "1"]);
    out.assert_code(1).assert_stderr(&[
        "country_borders",
        "countries.ndjson:1 (Country, primary key \"BEL\")",
    ]);
    assert_eq!(t.count("countries").await, 0, "rolled back");

    // The whole file in one chunk: the links follow the countries.
    let out = upsert(&[]);
    out.assert_code(0);
    assert_eq!(
        out.json(),
        json!({"upserted": 6, "skipped": 0, "rows": {"countries": 6, "country_borders": 16,
            "country_currencies": 6, "country_languages": 11, "country_tlds": 6}})
    );
    let rows = |sql: &'static str| async move {
        t.rows(sql)
            .await
            .into_iter()
            .map(J::Object)
            .collect::<Vec<J>>()
    };
    assert_eq!(
        rows("SELECT cca3, name, official_name FROM countries WHERE cca3 = 'ABW'").await,
        [json!({"cca3": "ABW", "name": "Aruba", "official_name": "Aruba"})]
    );
    assert_eq!(
        rows("SELECT code, name FROM country_languages WHERE country_cca3 = 'ABW' ORDER BY code")
            .await,
        [
            json!({"code": "nld", "name": "Dutch"}),
            json!({"code": "pap", "name": "Papiamento"})
        ]
    );
    assert_eq!(
        rows("SELECT code, name, symbol FROM country_currencies WHERE country_cca3 = 'ABW'").await,
        [json!({"code": "AWG", "name": "Aruban florin", "symbol": "ƒ"})]
    );
    assert_eq!(
        rows("SELECT name FROM country_tlds WHERE country_cca3 = 'ABW'").await,
        [json!({"name": ".aw"})]
    );
    assert_eq!(
        t.column("SELECT neighbour_code FROM country_borders WHERE country_code = 'BEL' ORDER BY neighbour_code")
            .await,
        [json!("DEU"), json!("FRA"), json!("LUX"), json!("NLD")]
    );
    for (table, n) in [
        ("countries", 6),
        ("country_languages", 11),
        ("country_currencies", 6),
        ("country_tlds", 6),
        ("country_borders", 16),
    ] {
        assert_eq!(t.count(table).await, n, "{table}");
    }
}
