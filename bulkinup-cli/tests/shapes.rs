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

/// A schema file of the countries feed with one mistake, `mistake` replacing `line`.
fn countries_schema_with(dir: &common::Dir, line: &str, mistake: &str) -> String {
    let text = std::fs::read_to_string(data("countries.toml")).unwrap();
    assert!(text.contains(line), "the fixture has {line:?}");
    dir.write("countries.toml", &text.replacen(line, mistake, 1))
}

/// The line (1-based) of `needle` in the schema file written for a test.
fn line_of(dir: &common::Dir, file: &str, needle: &str) -> usize {
    dir.read(file)
        .lines()
        .position(|l| l.contains(needle))
        .expect("the mistake is in the file")
        + 1
}

#[test]
fn schema_mistakes_in_field_paths_and_feed_shapes_exit_2_naming_schema_key_and_position() {
    let cases = [
        // An invalid field path.
        (
            r#"from = "name.common""#,
            r#"from = "name..common""#,
            "Country",
            "fields.name.from",
            "segment 2 is empty",
        ),
        // keyed_by naming a field the related schema lacks.
        (
            r#"keyed_by = "code", value_field = "name""#,
            r#"keyed_by = "kode", value_field = "name""#,
            "Country",
            "associations.languages.keyed_by",
            "`kode`",
        ),
        // write_related on something that is not a many_to_many.
        (
            r#"keyed_by = "code" }"#,
            r#"keyed_by = "code", write_related = false }"#,
            "Country",
            "write_related",
            "does not apply",
        ),
    ];
    for (line, mistake, schema, key, says) in cases {
        let dir = common::Dir::new();
        let file = countries_schema_with(&dir, line, mistake);
        let input = dir.write("countries.ndjson", "");
        let out = dir.run(&[
            "upsert",
            "--schema",
            &file,
            "--root",
            "Country",
            "--database-url",
            "sqlite://never.db",
            &input,
        ]);
        out.assert_code(2);
        let position = format!("countries.toml:{}:", line_of(&dir, &file, mistake));
        for part in [schema, key, says, position.as_str()] {
            assert!(
                out.stderr.contains(part),
                "{mistake}: stderr lacks {part:?}: {}",
                out.stderr
            );
        }
        assert!(
            !dir.path().join("never.db").exists(),
            "nothing was connected to"
        );
    }
}
