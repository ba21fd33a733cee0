//! Tests of the naming and rendering helpers of schema inference.

use super::render::{key, string};
use super::*;

#[test]
fn singular_of_table_names() {
    for (many, one) in [
        ("posts", "post"),
        ("categories", "category"),
        ("addresses", "address"),
        ("boxes", "box"),
        ("people", "person"),
        ("People", "Person"),
        ("status", "status"),
        ("statuses", "status"),
        ("news", "news"),
        ("data", "data"),
        ("s", "s"),
    ] {
        assert_eq!(singular(many), one, "{many}");
    }
    assert_eq!(singular_table("blog_categories"), "blog_category");
    assert_eq!(singular_table("posts_tags"), "posts_tag");
}

#[test]
fn camel_case_names() {
    assert_eq!(camel("blog_post"), "BlogPost");
    assert_eq!(camel("BlogPost"), "BlogPost");
    assert_eq!(camel("2fa codes"), "T2faCodes");
    assert_eq!(camel(""), "T");
}

#[test]
fn plural_of_columns() {
    assert_eq!(plural("followee"), "followees");
    assert_eq!(plural("category"), "categories");
    assert_eq!(plural("box"), "boxes");
    assert_eq!(plural("day"), "days");
}

#[test]
fn keys_and_strings_are_valid_toml() {
    assert_eq!(key("author_id"), "author_id");
    assert_eq!(key("first name"), r#""first name""#);
    assert_eq!(string("a\"b\\c\u{1}"), r#""a\"b\\c\u0001""#);
    let text = format!("{} = {}\n", key("we\"ird"), string("x\ty"));
    let parsed: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(parsed["we\"ird"].as_str(), Some("x\ty"));
}

#[test]
fn names_are_claimed_once() {
    let mut taken = BTreeSet::from(["posts".to_string()]);
    assert_eq!(
        claim(&mut taken, &["posts".into(), "author_posts".into()]),
        "author_posts"
    );
    assert_eq!(
        claim(&mut taken, &["posts".into(), "author_posts".into()]),
        "posts_2"
    );
}

#[test]
fn json_values_give_the_one_field_type_that_casts_them_all() {
    use serde_json::json;
    let ty = |values: &[serde_json::Value]| {
        json_field_type(&values.iter().collect::<Vec<_>>()).map(|t| t.to_string())
    };
    let some = |t: &str| Some(t.to_string());
    assert_eq!(ty(&[json!("a"), json!(null), json!("b")]), some("string"));
    assert_eq!(ty(&[json!(1), json!(2)]), some("integer"));
    assert_eq!(ty(&[json!(1), json!(2.5)]), some("float"));
    assert_eq!(ty(&[json!(true)]), some("boolean"));
    assert_eq!(ty(&[json!({"a": 1})]), some("map"));
    assert_eq!(ty(&[json!(["x"]), json!([])]), some("array:string"));
    assert_eq!(ty(&[json!("1"), json!(1)]), None, "mixed kinds");
    assert_eq!(ty(&[json!([[1]])]), None, "nested arrays");
    assert_eq!(ty(&[json!(null)]), None, "no value");
}

#[test]
fn snake_case_column_names() {
    for (name, snake_name) in [
        ("firstName", "first_name"),
        ("HTTPServer", "http_server"),
        ("first name", "first_name"),
        ("x-y", "x_y"),
        ("2fa", "_2fa"),
        ("already_snake", "already_snake"),
        ("Country", "country"),
        ("--", "field"),
        ("a__b", "a_b"),
    ] {
        assert_eq!(snake(name), snake_name, "{name}");
    }
}
