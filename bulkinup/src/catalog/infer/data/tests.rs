//! Tests of the type and shape rules of schema inference from data.

use super::*;
use crate::Registry;
use serde_json::json;

/// The schema file inferred from `items` (as NDJSON) with `options`.
fn infer_with(items: &[J], options: &InferOptions) -> String {
    let text: String = items.iter().map(|i| format!("{i}\n")).collect();
    infer_ndjson(&text, options)
}

/// The schema file inferred from NDJSON text.
fn infer_ndjson(ndjson: &str, options: &InferOptions) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feeds.ndjson");
    std::fs::write(&path, ndjson).unwrap();
    infer_from_data(&[Source::File(path)], options).unwrap()
}

fn infer(items: &[J]) -> String {
    infer_with(items, &InferOptions::default())
}

/// The line of field `name` in the text.
fn field<'t>(text: &'t str, name: &str) -> &'t str {
    let start = format!("\n{name} = ");
    let at = text
        .find(&start)
        .unwrap_or_else(|| panic!("no field {name} in\n{text}"));
    text[at + 1..].lines().next().unwrap()
}

fn loads(text: &str) -> Registry {
    Registry::from_toml_str(text, "inferred.toml")
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .registry
}

#[test]
fn integers_floats_and_wide_numbers() {
    let text = infer_ndjson(
        concat!(
            r#"{"id": 1, "n": 1, "x": 1, "big": 1, "huge": 1.5}"#,
            "\n",
            r#"{"id": 2, "n": -2, "x": 2.5, "big": 18446744073709551616, "huge": 1e400}"#,
        ),
        &InferOptions::default(),
    );
    assert_eq!(field(&text, "id"), r#"id = "id""#);
    assert_eq!(field(&text, "n"), r#"n = "integer""#);
    assert_eq!(field(&text, "x"), r#"x = "float""#);
    assert_eq!(field(&text, "big"), r#"big = "decimal""#);
    assert_eq!(field(&text, "huge"), r#"huge = "decimal""#);
    loads(&text);
}

#[test]
fn date_times_dates_and_uuids() {
    let text = infer(&[
        json!({"at": "2024-01-02T03:04:05Z", "naive": "2024-01-02T03:04:05", "day": "2024-01-02",
               "uid": "67e55044-10b1-426f-9247-bb680e5fe0c8", "both": "2024-01-02T03:04:05+02:00", "word": "x"}),
        json!({"at": "2024-01-02T03:04:05.123456+01:00", "naive": "2024-01-02 03:04:05.5", "day": "2024-12-31",
               "uid": "67e55044-10b1-426f-9247-bb680e5fe0c9", "both": "2024-01-02T03:04:05", "word": "2024-01-02"}),
    ]);
    assert_eq!(field(&text, "at"), r#"at = "utc_datetime_usec""#);
    assert_eq!(field(&text, "naive"), r#"naive = "naive_datetime_usec""#);
    assert_eq!(field(&text, "day"), r#"day = "date""#);
    assert_eq!(field(&text, "uid"), r#"uid = "binary_id""#);
    // With and without an offset: UTC, which reads the naive ones as UTC.
    assert_eq!(field(&text, "both"), r#"both = "utc_datetime_usec""#);
    assert_eq!(field(&text, "word"), r#"word = "string""#);
    loads(&text);
}

#[test]
fn mixed_values_get_the_type_that_casts_them_all_or_a_comment() {
    let text = infer(&[
        json!({"id": 1, "a": 1, "b": 1, "c": true, "d": 1, "e": {"k": 1}, "f": null, "g": [1, 2]}),
        json!({"id": 2, "a": "2", "b": "2.5", "c": "false", "d": "x", "e": "x", "f": null, "g": [1.5]}),
    ]);
    assert_eq!(field(&text, "a"), r#"a = "integer""#);
    assert_eq!(field(&text, "b"), r#"b = "float""#);
    assert_eq!(field(&text, "c"), r#"c = "boolean""#);
    assert_eq!(
        field(&text, "d"),
        r#"d = "string"  # values mix strings and numbers: only the strings cast"#
    );
    assert_eq!(
        field(&text, "e"),
        r#"e = "map"  # values mix scalars and objects: only the objects cast"#
    );
    assert_eq!(
        field(&text, "f"),
        r#"f = "string"  # only null values in the sample: the type is a guess"#
    );
    assert_eq!(field(&text, "g"), r#"g = "array:float""#);
    loads(&text);
}

#[test]
fn the_root_key_is_id_else_the_first_unique_never_null_key_else_generated() {
    let text = infer(&[
        json!({"id": 1, "name": "a", "code": "A"}),
        json!({"id": 2, "name": "a", "code": "B"}),
    ]);
    assert!(text.contains("primary_key = [\"id\"]\n"), "{text}");

    let text = infer(&[
        json!({"id": 1, "name": "a", "cca3": "FRA", "late": 1}),
        json!({"id": 1, "name": "b", "cca3": "BEL", "late": 2}),
        json!({"id": 2, "name": null, "cca3": "DEU", "late": 3}),
    ]);
    assert!(text.contains("primary_key = [\"cca3\"]\n"), "{text}");
    assert_eq!(field(&text, "id"), r#"id = "integer""#);
    assert_eq!(field(&text, "cca3"), r#"cca3 = "string""#);

    let text = infer(&[json!({"id": 1, "n": 1.5}), json!({"id": 1, "n": 2.5})]);
    assert!(text.contains("primary_key = [\"id\"]\n"), "{text}");
    assert!(
        text.contains(r#"id = { type = "id", autogenerate = true }"#),
        "{text}"
    );
    assert_eq!(
        field(&text, "source_id"),
        r#"source_id = { type = "integer", from = "id" }"#
    );
}

#[test]
fn invalid_column_names_become_snake_case_with_from() {
    let text = infer(&[
        json!({"id": 1, "firstName": "a", "last name": "b", "x-y": 1, "2fa": true, "HTTPServer": "h",
               "a.b": 1, "/p": 2}),
    ]);
    assert_eq!(
        field(&text, "first_name"),
        r#"first_name = { type = "string", from = "firstName" }"#
    );
    assert_eq!(
        field(&text, "last_name"),
        r#"last_name = { type = "string", from = "last name" }"#
    );
    assert_eq!(
        field(&text, "x_y"),
        r#"x_y = { type = "integer", from = "x-y" }"#
    );
    assert_eq!(
        field(&text, "_2fa"),
        r#"_2fa = { type = "boolean", from = "2fa" }"#
    );
    assert_eq!(
        field(&text, "http_server"),
        r#"http_server = { type = "string", from = "HTTPServer" }"#
    );
    // A key with a `.`, or a path that would start with `/`: a JSON Pointer.
    assert_eq!(
        field(&text, "a_b"),
        r#"a_b = { type = "integer", from = "/a.b" }"#
    );
    assert_eq!(
        field(&text, "p"),
        r#"p = { type = "integer", from = "/~1p" }"#
    );
    // The file loads, and its fields read those keys.
    let registry = loads(&text);
    let item = json!({"id": 1, "firstName": "a", "a.b": 5, "/p": 6});
    let cs = crate::Changeset::cast(&registry, "Feed", "changeset", &item).unwrap();
    assert!(cs.is_valid(), "{cs:?}");
}

#[test]
fn field_paths_are_dot_paths_or_json_pointers() {
    assert_eq!(path_text(&["name", "common"]), "name.common");
    assert_eq!(path_text(&["a.b", "c"]), "/a.b/c");
    assert_eq!(path_text(&["/x", "y~z"]), "/~1x/y~0z");
    assert_eq!(path_text(&[""]), "/");
}

#[test]
fn nested_objects_are_embedded_and_arrays_of_objects_are_children() {
    let text = infer(&[
        json!({"id": 1, "tags": ["a"], "address": {"city": "X", "geo": {"lat": 1.5}},
               "reviews": [{"id": 10, "stars": 5, "replies": [{"text": "ok"}]}], "notes": [{"text": "n"}]}),
        json!({"id": 2, "tags": [], "address": {"city": "Y", "geo": {"lat": 2}},
               "reviews": [{"id": 11, "stars": 4}], "notes": [{"text": "m"}, {"text": "m"}]}),
    ]);
    assert_eq!(field(&text, "tags"), r#"tags = "array:string""#);
    assert!(
        text.contains("\n[options]\ninfer_foreign_keys = true\n"),
        "{text}"
    );
    assert!(
        text.contains(r#"address = { kind = "embeds_one", related = "Address" }"#),
        "{text}"
    );
    assert!(
        text.contains("[schemas.Address]\nembedded = true\nprimary_key = []\n"),
        "{text}"
    );
    assert!(
        text.contains(r#"geo = { kind = "embeds_one", related = "Geo" }"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"reviews = { kind = "has_many", related = "Review", foreign_key = "feed_id" }"#
        ),
        "{text}"
    );
    assert!(
        text.contains("[schemas.Review]\nsource = \"reviews\"\nprimary_key = [\"id\"]\n"),
        "{text}"
    );
    assert!(
        text.contains(
            r#"replies = { kind = "has_many", related = "Reply", foreign_key = "review_id" }"#
        ),
        "{text}"
    );
    assert!(
        text.contains("[schemas.Reply]\nsource = \"replies\"\nprimary_key = [\"id\"]\n"),
        "{text}"
    );
    assert!(
        text.contains("[schemas.Note]\nsource = \"notes\"\nprimary_key = [\"id\"]\n"),
        "{text}"
    );
    assert_eq!(
        field(&text, "review_id"),
        r#"review_id = "integer"  # the parent's key: filled in by infer_foreign_keys"#
    );
    let registry = loads(&text);
    assert_eq!(
        registry.schema_names(),
        ["Address", "Feed", "Geo", "Note", "Reply", "Review"]
    );
}

#[test]
fn children_of_a_string_keyed_parent_get_a_string_foreign_key() {
    let text = infer(&[
        json!({"code": "A", "items": [{"n": 1}]}),
        json!({"code": "B", "items": []}),
    ]);
    assert!(text.contains("primary_key = [\"code\"]\n"), "{text}");
    assert!(text.contains("\nfeed_id = \"string\""), "{text}");
    loads(&text);
}

#[test]
fn code_keyed_objects_are_maps_or_keyed_children() {
    let items = [
        json!({"id": 1, "languages": {"eng": "English"}, "currencies": {"EUR": {"name": "Euro"}},
               "name": {"common": "A", "official": "A"}}),
        json!({"id": 2, "languages": {"fra": "French", "eng": "English"}, "currencies": {"USD": {"name": "Dollar", "symbol": "$"}},
               "name": {"common": "B", "official": "B"}}),
        json!({"id": 3, "languages": {"deu": "German"}, "currencies": {"EUR": {"name": "Euro"}},
               "name": {"common": "C"}}),
    ];
    let text = infer(&items);
    assert_eq!(
        field(&text, "languages"),
        r#"languages = "map"  # keys vary like codes: a map (or a keyed child with --keyed)"#
    );
    assert!(
        text.contains(r#"name = { kind = "embeds_one", related = "Name" }"#),
        "{text}"
    );
    loads(&text);

    let keyed = infer_with(
        &items,
        &InferOptions {
            keyed: true,
            ..InferOptions::default()
        },
    );
    assert!(keyed.contains(r#"languages = { kind = "has_many", related = "Language", foreign_key = "feed_id", keyed_by = "key", value_field = "value" }"#), "{keyed}");
    assert!(keyed.contains(r#"currencies = { kind = "has_many", related = "Currency", foreign_key = "feed_id", keyed_by = "key" }"#), "{keyed}");
    assert!(
        keyed.contains("[schemas.Language]\n# identified by its parent and its key in the parent's map\nsource = \"languages\"\nprimary_key = [\"feed_id\", \"key\"]\n"),
        "{keyed}"
    );
    assert!(
        !keyed.contains("autogenerate"),
        "keyed children need no generated key: {keyed}"
    );
    assert_eq!(field(&keyed, "key"), r#"key = "string""#);
    assert_eq!(field(&keyed, "value"), r#"value = "string""#);
    assert_eq!(field(&keyed, "symbol"), r#"symbol = "string""#);
}

#[test]
fn what_looks_like_a_code() {
    for code in ["eng", "EUR", "en-GB", "2024-01", "a_b", "x.y", "fr"] {
        assert!(looks_like_code(code), "{code}");
    }
    for word in ["firstName", "", "common", "-x", "a b", "eN-gb", "abc-defgh"] {
        assert!(!looks_like_code(word), "{word}");
    }
}

#[test]
fn flatten_writes_columns_with_paths() {
    let text = infer_with(
        &[
            json!({"id": 1, "name": {"common": "A", "native": {"fra": "x"}}, "geo": {"points": [{"x": 1}]}}),
        ],
        &InferOptions {
            flatten: true,
            ..InferOptions::default()
        },
    );
    assert_eq!(
        field(&text, "name_common"),
        r#"name_common = { type = "string", from = "name.common" }"#
    );
    assert_eq!(
        field(&text, "name_native_fra"),
        r#"name_native_fra = { type = "string", from = "name.native.fra" }"#
    );
    assert!(
        !text.contains("\nname = ") && !text.contains("\n[schemas.Name]"),
        "a flattened object is no field or schema of its own: {text}"
    );
    // Objects holding arrays of objects stay embedded.
    assert!(
        text.contains(r#"geo = { kind = "embeds_one", related = "Geo" }"#),
        "{text}"
    );
    assert!(
        text.contains(r#"points = { kind = "embeds_many", related = "Point" }"#),
        "{text}"
    );
    loads(&text);
}

#[test]
fn the_sample_limits_the_items_read_and_the_output_is_deterministic() {
    let items = [json!({"id": 1, "n": 1}), json!({"id": 2, "n": 2.5})];
    let sampled = infer_with(
        &items,
        &InferOptions {
            sample: Some(1),
            ..InferOptions::default()
        },
    );
    assert_eq!(field(&sampled, "n"), r#"n = "integer""#);
    assert!(
        sampled.starts_with("# Schemas inferred by bulkinup from 1 item(s) of "),
        "{sampled}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feeds.ndjson");
    std::fs::write(&path, format!("{}\n{}\n", items[0], items[1])).unwrap();
    let run = || infer_from_data(&[Source::File(path.clone())], &InferOptions::default()).unwrap();
    assert_eq!(run(), run());
}

#[test]
fn the_root_is_named_after_the_file_or_the_option() {
    assert!(infer(&[json!({"id": 1})]).contains("\n[schemas.Feed]\nsource = \"feeds\"\n"));
    let text = infer_with(
        &[json!({"id": 1})],
        &InferOptions {
            root: Some("Country".into()),
            ..InferOptions::default()
        },
    );
    assert!(
        text.contains("\n[schemas.Country]\nsource = \"countries\"\n"),
        "{text}"
    );
    assert_eq!(default_root(Path::new("dir/blog-posts.ndjson")), "BlogPost");
}

#[test]
fn a_non_object_item_and_no_item_are_errors_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.ndjson");
    std::fs::write(&path, "{\"id\": 1}\n[1]\n").unwrap();
    let err = infer_from_data(&[Source::File(path.clone())], &InferOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("line 2: the item is a JSON array, not an object"),
        "{err}"
    );
    std::fs::write(&path, "{\"id\": 1}\n{\"id\": \n").unwrap();
    let err = infer_from_data(&[Source::File(path.clone())], &InferOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Input { line: Some(2), .. }), "{err}");
    std::fs::write(&path, "\n").unwrap();
    let err = infer_from_data(&[Source::File(path)], &InferOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("no item to infer a schema from"),
        "{err}"
    );
}
