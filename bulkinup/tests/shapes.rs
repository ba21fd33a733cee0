//! The shapes real JSON feeds give nested data, on SQLite, PostgreSQL and MySQL/MariaDB:
//! children as a map keyed by code (`keyed_by`), arrays of scalars as child rows
//! (`value_field`), and link-only `many_to_many` associations (`write_related = false`),
//! here a self-referencing one (countries bordering countries). The data is
//! `tests/data/countries.ndjson`, loaded as it is with `tests/data/countries.toml`.

mod common;

use std::sync::{Arc, Mutex};

use bulkinup::{DbErrorKind, Item, Options, Origin, Registry};
use common::TestDb;
use pretty_assertions::assert_eq;
use serde_json::{Value as J, json};

const COUNTRIES: &str = include_str!("data/countries.ndjson");
const DDL: &str = include_str!("data/countries.sql");
const SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/countries.toml");

on_every_database!(empty:
    the_countries_load_with_every_row_as_given,
    an_upsert_run_twice_changes_nothing_the_second_time,
    a_keyed_map_fills_an_embeds_many,
    a_link_without_its_key_skips_the_item,
    a_link_needs_only_the_key_of_a_row_that_exists,
    a_link_to_a_country_of_a_later_chunk_is_a_foreign_key_error_naming_the_join_table_and_line,
);

fn registry() -> Registry {
    Registry::from_file(SCHEMA)
        .expect("tests/data/countries.toml loads")
        .registry
}

/// `infer_foreign_keys`, as the schema file's `[options]` says for the command line.
fn options() -> Options {
    Options::default().infer_foreign_keys(true)
}

/// The items of `text`, each with its line in `countries.ndjson`.
fn items(text: &str) -> Vec<Item> {
    text.lines()
        .enumerate()
        .map(|(i, line)| Item {
            attrs: serde_json::from_str(line).expect("a fixture line is JSON"),
            origin: Some(Origin {
                file: "countries.ndjson".into(),
                line: Some(i as u64 + 1),
                index: None,
            }),
        })
        .collect()
}

async fn tables(t: &TestDb) {
    t.db.execute_script(DDL)
        .await
        .expect("the countries tables");
}

/// Every row of `sql` as a JSON object.
async fn rows(t: &TestDb, sql: &str) -> Vec<J> {
    t.rows(sql).await.into_iter().map(J::Object).collect()
}

/// Every row of every countries table, in key order.
async fn snapshot(t: &TestDb) -> Vec<Vec<J>> {
    let mut out = Vec::new();
    for sql in [
        "SELECT cca3, cca2, name, official_name, region, population FROM countries ORDER BY cca3",
        "SELECT country_cca3, code, name FROM country_languages ORDER BY country_cca3, code",
        "SELECT country_cca3, code, name, symbol FROM country_currencies ORDER BY country_cca3, code",
        "SELECT country_cca3, name FROM country_tlds ORDER BY country_cca3, name",
        "SELECT country_code, neighbour_code FROM country_borders ORDER BY country_code, neighbour_code",
    ] {
        out.push(rows(t, sql).await);
    }
    out
}

/// What `countries.ndjson` holds, table by table, as [`snapshot`] reads it.
fn expected() -> Vec<Vec<J>> {
    let country = |cca3, cca2, name, official_name, region, population| {
        json!({"cca3": cca3, "cca2": cca2, "name": name, "official_name": official_name,
               "region": region, "population": population})
    };
    let language = |c, code, name| json!({"country_cca3": c, "code": code, "name": name});
    let euro = |c| json!({"country_cca3": c, "code": "EUR", "name": "Euro", "symbol": "€"});
    let tld = |c, name| json!({"country_cca3": c, "name": name});
    let border = |a, b| json!({"country_code": a, "neighbour_code": b});
    vec![
        vec![
            country("ABW", "AW", "Aruba", "Aruba", "Americas", 106766),
            country(
                "BEL",
                "BE",
                "Belgium",
                "Kingdom of Belgium",
                "Europe",
                11555997,
            ),
            country(
                "DEU",
                "DE",
                "Germany",
                "Federal Republic of Germany",
                "Europe",
                83240525,
            ),
            country("FRA", "FR", "France", "French Republic", "Europe", 67391582),
            country(
                "LUX",
                "LU",
                "Luxembourg",
                "Grand Duchy of Luxembourg",
                "Europe",
                632275,
            ),
            country(
                "NLD",
                "NL",
                "Netherlands",
                "Kingdom of the Netherlands",
                "Europe",
                16655799,
            ),
        ],
        vec![
            language("ABW", "nld", "Dutch"),
            language("ABW", "pap", "Papiamento"),
            language("BEL", "deu", "German"),
            language("BEL", "fra", "French"),
            language("BEL", "nld", "Dutch"),
            language("DEU", "deu", "German"),
            language("FRA", "fra", "French"),
            language("LUX", "deu", "German"),
            language("LUX", "fra", "French"),
            language("LUX", "ltz", "Luxembourgish"),
            language("NLD", "nld", "Dutch"),
        ],
        vec![
            json!({"country_cca3": "ABW", "code": "AWG", "name": "Aruban florin", "symbol": "ƒ"}),
            euro("BEL"),
            euro("DEU"),
            euro("FRA"),
            euro("LUX"),
            euro("NLD"),
        ],
        vec![
            tld("ABW", ".aw"),
            tld("BEL", ".be"),
            tld("DEU", ".de"),
            tld("FRA", ".fr"),
            tld("LUX", ".lu"),
            tld("NLD", ".nl"),
        ],
        vec![
            border("BEL", "DEU"),
            border("BEL", "FRA"),
            border("BEL", "LUX"),
            border("BEL", "NLD"),
            border("DEU", "BEL"),
            border("DEU", "FRA"),
            border("DEU", "LUX"),
            border("DEU", "NLD"),
            border("FRA", "BEL"),
            border("FRA", "DEU"),
            border("FRA", "LUX"),
            border("LUX", "BEL"),
            border("LUX", "DEU"),
            border("LUX", "FRA"),
            border("NLD", "BEL"),
            border("NLD", "DEU"),
        ],
    ]
}

async fn the_countries_load_with_every_row_as_given(t: &TestDb) {
    tables(t).await;
    // Belgium, on line 1, borders countries of later lines: one chunk, its join rows after
    // the countries.
    let s = bulkinup::upsert(&t.db, &registry(), "Country", items(COUNTRIES), &options())
        .await
        .unwrap();
    assert_eq!((s.written, s.skipped), (6, 0));
    assert_eq!(
        s.to_json()["rows"],
        json!({"countries": 6, "country_borders": 16, "country_currencies": 6,
               "country_languages": 11, "country_tlds": 6})
    );
    assert_eq!(snapshot(t).await, expected());
}

async fn an_upsert_run_twice_changes_nothing_the_second_time(t: &TestDb) {
    tables(t).await;
    let registry = registry();
    let first = bulkinup::upsert(&t.db, &registry, "Country", items(COUNTRIES), &options())
        .await
        .unwrap();
    let again = bulkinup::upsert(&t.db, &registry, "Country", items(COUNTRIES), &options())
        .await
        .unwrap();
    // The same rows are sent again (join rows do nothing on their conflict)…
    assert_eq!(again.to_json()["rows"], first.to_json()["rows"]);
    // … and the tables hold what they held.
    assert_eq!(snapshot(t).await, expected());
}

async fn a_keyed_map_fills_an_embeds_many(t: &TestDb) {
    let json = match t.kind {
        common::Kind::Postgres => "JSONB",
        _ => "JSON",
    };
    t.db.execute_script(&format!(
        "CREATE TABLE places (cca3 VARCHAR(3) PRIMARY KEY, name VARCHAR(100) NOT NULL, \
         currencies {json}, languages {json})"
    ))
    .await
    .unwrap();
    let registry = Registry::from_toml_str(
        r#"
[schemas.Place]
source = "places"
primary_key = ["cca3"]
fields = { cca3 = "string", name = "string" }
associations.currencies = { kind = "embeds_many", related = "Currency", keyed_by = "code" }
associations.languages = { kind = "embeds_many", related = "Language", keyed_by = "code", value_field = "name" }

[schemas.Currency]
embedded = true
primary_key = []
fields = { code = "string", name = "string", symbol = "string" }

[schemas.Language]
embedded = true
primary_key = []
fields = { code = "string", name = "string" }
"#,
        "places.toml",
    )
    .unwrap()
    .registry;
    let panama = json!({
        "cca3": "PAN", "name": "Panama",
        "currencies": {"USD": {"name": "United States dollar", "symbol": "$"},
                       "PAB": {"name": "Panamanian balboa", "symbol": "B/."}},
        "languages": {"spa": "Spanish"}
    });
    let s = bulkinup::upsert(&t.db, &registry, "Place", vec![panama], &Options::default())
        .await
        .unwrap();
    assert_eq!((s.written, s.skipped), (1, 0));
    assert_eq!(
        rows(t, "SELECT cca3, name, currencies, languages FROM places").await,
        [json!({
            "cca3": "PAN", "name": "Panama",
            // In the order of the keys.
            "currencies": [
                {"code": "PAB", "name": "Panamanian balboa", "symbol": "B/."},
                {"code": "USD", "name": "United States dollar", "symbol": "$"},
            ],
            "languages": [{"code": "spa", "name": "Spanish"}],
        })]
    );
}

/// The error trees of skipped items, by line.
type Seen = Arc<Mutex<Vec<(u64, J)>>>;

/// A handler that keeps the error tree of every skipped item, by its line.
fn skipped_errors() -> (Options, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&seen);
    let options = options().on_skipped(move |skipped| {
        let mut keep = keep.lock().unwrap();
        for s in skipped {
            let line = s.item.origin.as_ref().and_then(|o| o.line).unwrap_or(0);
            keep.push((line, s.changeset.errors_json()));
        }
    });
    (options, seen)
}

async fn a_link_without_its_key_skips_the_item(t: &TestDb) {
    tables(t).await;
    let input = [
        json!({"cca3": "ABW", "name": {"common": "Aruba"}}),
        // A link element gives the join key, `cca3`, or nothing.
        json!({"cca3": "NLD", "name": {"common": "Netherlands"}, "borders": [{"name": "Aruba"}],
               "tld": [".nl"]}),
        json!({"cca3": "BEL", "name": {"common": "Belgium"}, "borders": ["ABW", 5]}),
    ]
    .map(|j| j.to_string())
    .join("\n");
    let (options, seen) = skipped_errors();
    let s = bulkinup::upsert(&t.db, &registry(), "Country", items(&input), &options)
        .await
        .unwrap();
    assert_eq!((s.written, s.skipped), (1, 2));
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (2, json!({"borders": [{"cca3": ["can't be blank"]}]})),
            (3, json!({"borders": [{}, {"cca3": ["is invalid"]}]})),
        ]
    );
    // Nothing of the skipped items is written: not their country, nor their other children.
    assert_eq!(t.column("SELECT cca3 FROM countries").await, [json!("ABW")]);
    assert_eq!(t.count("country_borders").await, 0);
    assert_eq!(t.count("country_tlds").await, 0);
}

async fn a_link_needs_only_the_key_of_a_row_that_exists(t: &TestDb) {
    tables(t).await;
    t.db.execute_script("INSERT INTO countries (cca3, name) VALUES ('AUT', 'Austria')")
        .await
        .unwrap();
    // Country requires `name`; a link to a country does not, and does not write it.
    let input = json!({"cca3": "CHE", "name": {"common": "Switzerland"},
                       "borders": [{"cca3": "AUT"}, {"cca3": "AUT", "name": {"common": "Österreich"}}]})
    .to_string();
    let s = bulkinup::upsert(&t.db, &registry(), "Country", items(&input), &options())
        .await
        .unwrap();
    assert_eq!((s.written, s.skipped), (1, 0));
    assert_eq!(
        s.to_json()["rows"],
        json!({"countries": 1, "country_borders": 1})
    );
    assert_eq!(
        rows(t, "SELECT cca3, name FROM countries ORDER BY cca3").await,
        [
            json!({"cca3": "AUT", "name": "Austria"}),
            json!({"cca3": "CHE", "name": "Switzerland"}),
        ]
    );
    assert_eq!(
        rows(
            t,
            "SELECT country_code, neighbour_code FROM country_borders"
        )
        .await,
        [json!({"country_code": "CHE", "neighbour_code": "AUT"})]
    );
}

/// Upserts `countries.ndjson` one item per chunk: Belgium's links (line 1) are written before
/// the countries they link to.
async fn one_country_per_chunk(t: &TestDb) -> bulkinup::Result<bulkinup::Summary> {
    let options = options().chunk_size(1);
    bulkinup::upsert(&t.db, &registry(), "Country", items(COUNTRIES), &options).await
}

async fn a_link_to_a_country_of_a_later_chunk_is_a_foreign_key_error_naming_the_join_table_and_line(
    t: &TestDb,
) {
    tables(t).await;
    let e = one_country_per_chunk(t).await.unwrap_err();
    assert_eq!(e.db_kind(), Some(DbErrorKind::ForeignKeyViolation), "{e}");
    assert_eq!(e.table(), Some("country_borders"), "{e}");
    let item = e.item().expect("the error names the item");
    assert_eq!(item.origin.as_ref().and_then(|o| o.line), Some(1), "{e}");
    assert!(
        e.to_string()
            .contains("for the item at countries.ndjson:1 (Country, primary key \"BEL\")"),
        "{e}"
    );
    // Rolled back.
    assert_eq!(t.count("countries").await, 0);
}

// Schema files that are refused, each naming the schema, the key and its position.

/// The countries schema with the `languages` association (line 6) replaced by `line`.
fn schema_with(line: &str) -> String {
    format!(
        r#"[schemas.Country]
source = "countries"
primary_key = ["cca3"]
fields = {{ cca3 = "string", name = "string" }}
[schemas.Country.associations]
{line}
[schemas.Language]
source = "country_languages"
primary_key = ["country_cca3", "code"]
fields = {{ country_cca3 = "string", code = "string", name = "string" }}
"#
    )
}

/// `countries.toml:6:COLUMN` of `key` in the association `line` (the column counts from 1).
fn at(line: &str, key: &str) -> String {
    let column = line
        .find(&format!(" {key} ="))
        .expect("the key is on the line")
        + 2;
    format!("(countries.toml:6:{column})")
}

fn refused(line: &str) -> String {
    let e = Registry::from_toml_str(&schema_with(line), "countries.toml").unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    assert!(matches!(e, bulkinup::Error::Schema { .. }), "{e:?}");
    e.to_string()
}

const LANGUAGES: &str = r#"languages = { kind = "has_many", related = "Language", foreign_key = "country_cca3", references = "cca3""#;

#[test]
fn keyed_by_naming_a_field_the_related_schema_lacks_is_refused_with_a_suggestion() {
    let line = format!(r#"{LANGUAGES}, keyed_by = "cod" }}"#);
    assert_eq!(
        refused(&line),
        format!(
            "schema error in schema `Country` at `associations.languages.keyed_by`: unknown field `cod`: did you mean `code`? (fields of `Language`: country_cca3, code, name) {}",
            at(&line, "keyed_by")
        )
    );
}

#[test]
fn value_field_naming_a_field_the_related_schema_lacks_is_refused() {
    let line = format!(r#"{LANGUAGES}, value_field = "label" }}"#);
    assert_eq!(
        refused(&line),
        format!(
            "schema error in schema `Country` at `associations.languages.value_field`: unknown field `label` (fields of `Language`: country_cca3, code, name) {}",
            at(&line, "value_field")
        )
    );
}

#[test]
fn keyed_by_on_a_has_one_does_not_apply() {
    let line = r#"language = { kind = "has_one", related = "Language", foreign_key = "country_cca3", references = "cca3", keyed_by = "code" }"#;
    assert_eq!(
        refused(line),
        format!(
            "schema error at `schemas.Country.associations.language.keyed_by`: key `keyed_by` does not apply to a `has_one` association (valid: kind, related, foreign_key, references, through, defaults) {}",
            at(line, "keyed_by")
        )
    );
}

#[test]
fn write_related_on_a_has_many_does_not_apply() {
    let line = format!(r#"{LANGUAGES}, write_related = false }}"#);
    assert_eq!(
        refused(&line),
        format!(
            "schema error at `schemas.Country.associations.languages.write_related`: key `write_related` does not apply to a `has_many` association (valid: kind, related, foreign_key, references, through, defaults, keyed_by, value_field) {}",
            at(&line, "write_related")
        )
    );
}

#[test]
fn keyed_by_value_field_and_write_related_of_the_wrong_type_are_refused() {
    for (key, value, found) in [
        ("keyed_by", "1", "integer"),
        ("value_field", "[\"name\"]", "array"),
    ] {
        let line = format!("{LANGUAGES}, {key} = {value} }}");
        // The position is the value's.
        let value_at = line.find(value).expect("the value is on the line") + 1;
        assert_eq!(
            refused(&line),
            format!(
                "schema error at `schemas.Country.associations.languages.{key}`: expected a string, found {found} (countries.toml:6:{value_at})"
            )
        );
    }
    let line = r#"borders = { kind = "many_to_many", related = "Country", join_through = "country_borders", write_related = "no" }"#;
    let value_at = line.find("\"no\"").expect("the value") + 1;
    assert_eq!(
        refused(line),
        format!(
            "schema error at `schemas.Country.associations.borders.write_related`: expected a boolean, found string (countries.toml:6:{value_at})"
        )
    );
}

#[test]
fn a_self_referencing_join_table_needs_two_join_columns() {
    let text = refused(
        r#"borders = { kind = "many_to_many", related = "Country", join_through = "country_borders", write_related = false }"#,
    );
    assert!(
        text.starts_with("schema error in schema `Country` at `associations.borders.join_keys`: both join keys of `country_borders` are the column `country_id`"),
        "{text}"
    );
    assert!(text.ends_with("(countries.toml:6:1)"), "{text}");
}

#[test]
fn a_link_only_value_field_must_be_the_join_key() {
    let line = r#"borders = { kind = "many_to_many", related = "Country", join_through = "country_borders", join_keys = [["country_code", "cca3"], ["neighbour_code", "cca3"]], value_field = "name", write_related = false }"#;
    assert_eq!(
        refused(line),
        format!(
            "schema error in schema `Country` at `associations.borders.value_field`: a link-only association (`write_related = false`) reads only the join key `cca3` of its elements: `value_field` must name `cca3` {}",
            at(line, "value_field")
        )
    );
}

/// PostgreSQL and SQLite check foreign keys declared `DEFERRABLE INITIALLY DEFERRED` at the
/// commit (MySQL and MariaDB have no such constraints).
mod deferred {
    use pretty_assertions::assert_eq;

    use super::{
        DDL, DbErrorKind, TestDb, expected, items, json, one_country_per_chunk, options, registry,
        snapshot,
    };
    use crate::common::Kind;

    crate::on_every_database!(@on sqlite, Sqlite, empty:
        a_link_to_a_later_chunk_is_written_when_the_join_tables_foreign_keys_are_deferred);
    crate::on_every_database!(@on postgres, Postgres, empty:
        a_link_to_a_later_chunk_is_written_when_the_join_tables_foreign_keys_are_deferred);

    async fn a_link_to_a_later_chunk_is_written_when_the_join_tables_foreign_keys_are_deferred(
        t: &TestDb,
    ) {
        let deferred = DDL.replace(
            "REFERENCES countries (cca3)\n);",
            "REFERENCES countries (cca3) DEFERRABLE INITIALLY DEFERRED\n);",
        );
        let deferred = deferred.replace(
            "FOREIGN KEY (country_code) REFERENCES countries (cca3),",
            "FOREIGN KEY (country_code) REFERENCES countries (cca3) DEFERRABLE INITIALLY DEFERRED,",
        );
        assert_eq!(deferred.matches("DEFERRABLE").count(), 5, "{deferred}");
        t.db.execute_script(&deferred).await.unwrap();
        let s = one_country_per_chunk(t).await.unwrap();
        assert_eq!((s.written, s.skipped), (6, 0));
        assert_eq!(snapshot(t).await, expected());

        // A link to a country that never comes fails the commit: no item to name, and the
        // join table named by PostgreSQL only.
        let input =
            json!({"cca3": "ESP", "name": {"common": "Spain"}, "borders": ["PRT"]}).to_string();
        let e = bulkinup::upsert(&t.db, &registry(), "Country", items(&input), &options())
            .await
            .unwrap_err();
        assert_eq!(e.db_kind(), Some(DbErrorKind::ForeignKeyViolation), "{e}");
        assert!(e.item().is_none(), "{e}");
        match t.kind {
            Kind::Postgres => {
                assert_eq!(e.table(), Some("country_borders"), "{e}");
                assert!(
                    e.to_string().contains(
                        "Key (neighbour_code)=(PRT) is not present in table \"countries\""
                    ),
                    "{e}"
                );
            }
            _ => assert_eq!(
                e.to_string(),
                "database error: FOREIGN KEY constraint failed"
            ),
        }
        assert_eq!(t.count("countries").await, 6, "rolled back");
    }
}
