//! Field paths (docs/schema-file.md, "Field paths"): `from = "name.common"` reads a field's
//! value at a dot path or JSON Pointer of the item's attrs, in root, child and embedded
//! schemas, with placeholders and recover fallbacks keyed by the field's name. On every
//! database.

mod common;

use bulkinup::{Error, Options, Registry};
use common::{Kind, TestDb};
use serde_json::json;

on_every_database!(empty:
    fields_with_paths_are_read_at_their_paths_and_written_into_their_columns,
    a_path_that_leads_nowhere_is_an_absent_key,
    fields_of_child_and_embedded_schemas_are_read_at_their_paths,
    placeholders_and_recover_fallbacks_apply_to_fields_with_paths,
);

const SCHEMAS: &str = r#"
[schemas.Country]
source = "countries"
primary_key = ["cca3"]

[schemas.Country.fields]
cca3          = "string"
common_name   = { type = "string", from = "name.common" }
official_name = { type = "string", from = "/name/official" }
lat           = { type = "float", from = "latlng.0" }
lng           = { type = "float", from = "latlng.1" }
region_code   = { type = "string", from = "regionCode" }
dialing       = { type = "string", from = "/idd/root~1suffix" }

[schemas.Country.associations]
cities = { kind = "has_many", related = "City", foreign_key = "country_cca3", references = "cca3" }
facts  = { kind = "embeds_one", related = "Facts" }

[schemas.Country.changesets.changeset]
cast       = "*"
required   = ["cca3", "common_name"]
cast_assoc = ["cities"]
cast_embed = ["facts"]

[schemas.City]
source = "cities"
fields = { id = "integer", country_cca3 = "string", name = { type = "string", from = "names.0.text" } }

[schemas.Facts]
embedded = true
primary_key = []
fields = { area = { type = "float", from = "area.km2" }, landlocked = "boolean" }
"#;

/// The cities give no `country_cca3`: it is inferred from their country.
fn options() -> Options {
    Options::default().infer_foreign_keys(true)
}

fn registry() -> Registry {
    Registry::from_toml_str(SCHEMAS, "countries.toml")
        .expect("the schema file loads")
        .registry
}

async fn create_tables(t: &TestDb) {
    let json = match t.kind {
        Kind::Postgres => "JSONB",
        Kind::MySql => "JSON",
        Kind::Sqlite => "TEXT",
    };
    t.db.execute_script(&format!(
        "CREATE TABLE countries (cca3 VARCHAR(3) PRIMARY KEY, common_name VARCHAR(100) NOT NULL, \
         official_name VARCHAR(200), lat DOUBLE PRECISION, lng DOUBLE PRECISION, \
         region_code VARCHAR(20), dialing VARCHAR(20), facts {json});
         CREATE TABLE cities (id INTEGER PRIMARY KEY, country_cca3 VARCHAR(3) NOT NULL \
         REFERENCES countries (cca3), name VARCHAR(100));"
    ))
    .await
    .expect("tables");
}

fn aruba() -> serde_json::Value {
    json!({
        "cca3": "ABW",
        "name": {"common": "Aruba", "official": "Aruba", "native": {"nld": {"common": "Aruba"}}},
        "latlng": [12.5, -69.96666666],
        "regionCode": "AMR",
        "idd": {"root/suffix": "+297"},
        "facts": {"area": {"km2": 180.0}, "landlocked": false},
        "cities": [{"id": 1, "names": [{"text": "Oranjestad"}, {"text": "Playa"}]}]
    })
}

async fn fields_with_paths_are_read_at_their_paths_and_written_into_their_columns(t: &TestDb) {
    create_tables(t).await;
    let s = bulkinup::upsert(&t.db, &registry(), "Country", [aruba()], &options())
        .await
        .expect("upsert");
    assert_eq!((s.written, s.skipped), (1, 0));
    let rows = t
        .rows("SELECT cca3, common_name, official_name, lat, lng, region_code, dialing FROM countries")
        .await;
    assert_eq!(
        serde_json::Value::from(rows),
        json!([{
            "cca3": "ABW", "common_name": "Aruba", "official_name": "Aruba",
            "lat": 12.5, "lng": -69.96666666, "region_code": "AMR", "dialing": "+297"
        }])
    );
}

async fn a_path_that_leads_nowhere_is_an_absent_key(t: &TestDb) {
    create_tables(t).await;
    let items = [
        // No latlng, a name that is a string (so `name.official` leads nowhere): those
        // fields are absent, written NULL.
        json!({"cca3": "ATA", "name": {"common": "Antarctica"}, "latlng": []}),
        // `name.common` is required: absent, the item is skipped.
        json!({"cca3": "XXX", "name": "nameless", "regionCode": "X"}),
        // A key of the field's own name is not read when the field has a path.
        json!({"cca3": "YYY", "common_name": "ignored"}),
    ];
    let s = bulkinup::upsert(&t.db, &registry(), "Country", items, &options())
        .await
        .expect("upsert");
    assert_eq!((s.written, s.skipped), (1, 2));
    assert_eq!(s.skipped_keys, vec![json!("XXX"), json!("YYY")]);
    let rows = t
        .rows("SELECT cca3, common_name, official_name, lat, region_code FROM countries")
        .await;
    assert_eq!(
        serde_json::Value::from(rows),
        json!([{"cca3": "ATA", "common_name": "Antarctica", "official_name": null, "lat": null, "region_code": null}])
    );
}

async fn fields_of_child_and_embedded_schemas_are_read_at_their_paths(t: &TestDb) {
    create_tables(t).await;
    bulkinup::upsert(&t.db, &registry(), "Country", [aruba()], &options())
        .await
        .expect("upsert");
    let cities = t.rows("SELECT id, country_cca3, name FROM cities").await;
    assert_eq!(
        serde_json::Value::from(cities),
        json!([{"id": 1, "country_cca3": "ABW", "name": "Oranjestad"}])
    );
    let facts = t.column("SELECT facts FROM countries").await;
    let facts: serde_json::Value = match &facts[0] {
        serde_json::Value::String(text) => serde_json::from_str(text).expect("JSON text"),
        other => other.clone(),
    };
    assert_eq!(facts, json!({"area": 180.0, "landlocked": false}));
}

async fn placeholders_and_recover_fallbacks_apply_to_fields_with_paths(t: &TestDb) {
    create_tables(t).await;
    let mut bad_lat = aruba();
    bad_lat["latlng"] = json!(["north", -69.9]);
    let options = options()
        .placeholder("Country", "region_code", json!("PLACEHELD"))
        .recover("Country", "lat", json!(0.0));
    let s = bulkinup::upsert(&t.db, &registry(), "Country", [bad_lat], &options)
        .await
        .expect("upsert");
    assert_eq!((s.written, s.skipped), (1, 0));
    let rows = t.rows("SELECT lat, lng, region_code FROM countries").await;
    assert_eq!(
        serde_json::Value::from(rows),
        json!([{"lat": 0.0, "lng": -69.9, "region_code": "PLACEHELD"}])
    );
}

#[test]
fn an_invalid_path_is_a_schema_error_naming_the_schema_key_and_position() {
    for (path, says) in [
        ("name..common", "segment 2 is empty"),
        ("", "may not be empty"),
        ("/name~2", "must be followed by `0`"),
    ] {
        let text = format!(
            "[schemas.Country]\nsource = \"countries\"\n\n[schemas.Country.fields]\nid = \"integer\"\ncommon_name = {{ type = \"string\", from = \"{path}\" }}\n"
        );
        let e = Registry::from_toml_str(&text, "countries.toml")
            .expect_err("an invalid path is refused");
        assert!(matches!(e, Error::Schema { .. }), "{e:?}");
        let message = e.to_string();
        for part in [
            "`Country`",
            "fields.common_name.from",
            says,
            "countries.toml:6:",
        ] {
            assert!(message.contains(part), "`{part}` not in: {message}");
        }
    }
}

#[test]
fn a_path_of_the_wrong_type_is_refused_at_its_position() {
    let text = "[schemas.Country]\nsource = \"countries\"\nfields = { id = \"integer\", lat = { type = \"float\", from = 0 } }\n";
    let e = Registry::from_toml_str(text, "countries.toml").expect_err("a number is no path");
    let message = e.to_string();
    assert!(message.contains("fields.lat.from"), "{message}");
    assert!(message.contains("expected a string"), "{message}");
    assert!(message.contains("countries.toml:3:"), "{message}");
}
