//! Tests of the schema-file loader.

use super::*;
use crate::schema::{FieldType, Link};

mod errors;

/// The blog schema of `docs/schema-file.md`, followed by its `[options]` example.
const BLOG: &str = concat!(
    r#"[schemas.Author]
source = "authors"
primary_key = ["id"]                       # default ["id"]; [] for none
fields = { id = "integer", name = "string", phone_number = "string", inserted_at = "utc_datetime_usec" }

[schemas.Author.associations]
posts        = { kind = "has_many",    related = "Post" }              # foreign_key author_id
profile      = { kind = "has_one",     related = "Profile", foreign_key = "author_id" }
address      = { kind = "embeds_one",  related = "Address" }
social_links = { kind = "embeds_many", related = "SocialLink" }

[schemas.Author.changesets.changeset]
cast = ["id", "name", "phone_number"]
required = ["id", "name"]
format = { phone_number = '^\d{3}-\d{4}$' }
cast_assoc = ["posts", "profile"]
cast_embed = ["address", "social_links"]

[schemas.Author.changesets.upsert_changeset]
cast = ["id"]
required = ["id"]

[schemas.Post]
source = "posts"
fields = { id = "integer", author_id = "integer", title = "string", inserted_at = "utc_datetime_usec" }
[schemas.Post.associations]
category = { kind = "belongs_to",   related = "Category" }            # field category_id
comments = { kind = "has_many",     related = "Comment" }
tags     = { kind = "many_to_many", related = "Tag", join_through = "posts_tags", join_keys = [["post_id", "id"], ["tag_id", "id"]] }
[schemas.Post.changesets.changeset]
cast = ["id", "author_id", "category_id", "title"]
required = ["id", "author_id", "title"]
cast_assoc = ["category", "comments", "tags"]

[schemas.Comment]
source = "comments"
fields = { id = "integer", post_id = "integer", body = "string" }
[schemas.Comment.changesets.changeset]
cast = ["id", "post_id", "body"]
required = ["id", "post_id", "body"]

[schemas.Profile]
source = "profiles"
fields = { id = "integer", author_id = "integer", bio = "string" }
[schemas.Profile.changesets.changeset]
cast = ["id", "author_id", "bio"]
required = ["id", "author_id", "bio"]

[schemas.Category]
source = "categories"
fields = { id = "integer", name = "string" }
[schemas.Category.changesets.changeset]
cast = ["id", "name"]
required = ["id", "name"]

[schemas.Tag]
source = "tags"
fields = { id = "integer", name = "string" }
[schemas.Tag.changesets.changeset]
cast = ["id", "name"]
required = ["id", "name"]

[schemas.Address]
embedded = true
primary_key = []
fields = { street = "string", city = "string" }
[schemas.Address.changesets.changeset]
cast = ["street", "city"]
required = ["street", "city"]

[schemas.SocialLink]
embedded = true
primary_key = []
fields = { label = "string", url = "string" }
[schemas.SocialLink.changesets.changeset]
cast = ["label", "url"]
required = ["label", "url"]
"#,
    r#"[options]
chunk_size = 500
timeout = 30                                   # seconds
placeholders = { Author = { name = "Anonymous" }, Post = { inserted_at = "now()" } }
recover_changeset_errors = { Post = { title = "UNTITLED" } }
on_conflict = { Tag = "nothing", posts_tags = "nothing", Post = "replace:title" }
conflict_target = { Setting = ["key"] }
[options.upsert]
replace_all_except = ["inserted_at"]
"#,
);

fn load(text: &str) -> Result<SchemaFile> {
    Registry::from_toml_str(text, "t.toml")
}

/// The error message of a load that must fail.
fn load_err(text: &str) -> String {
    match load(text) {
        Ok(_) => panic!("expected an error loading:\n{text}"),
        Err(e) => {
            assert!(matches!(e, Error::Schema { .. }), "{e:?}");
            e.to_string()
        }
    }
}

fn assert_contains(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "`{message}` does not contain `{part}`"
        );
    }
}

fn field_names(registry: &Registry, schema: &str) -> Vec<String> {
    registry
        .get(schema)
        .unwrap()
        .fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect()
}

#[test]
fn loads_the_blog_schema() {
    let file = load(BLOG).unwrap();
    let r = &file.registry;
    assert_eq!(
        r.schema_names(),
        [
            "Address",
            "Author",
            "Category",
            "Comment",
            "Post",
            "Profile",
            "SocialLink",
            "Tag"
        ]
    );
    assert_eq!(
        field_names(r, "Author"),
        [
            "id",
            "name",
            "phone_number",
            "inserted_at",
            "address",
            "social_links"
        ]
    );
    let author = r.get("Author").unwrap();
    assert_eq!(author.source(), Some("authors"));
    assert_eq!(author.primary_key(), ["id"]);
    assert_eq!(author.changeset_names(), ["changeset", "upsert_changeset"]);
    assert_eq!(
        author.field("inserted_at").unwrap().ty(),
        &FieldType::UtcDatetimeUsec
    );

    let post = r.get("Post").unwrap();
    let category_id = post
        .field("category_id")
        .expect("belongs_to defines category_id");
    assert_eq!(category_id.ty(), &FieldType::Id);
    assert_eq!(post.primary_key(), ["id"]);
    let tags = post
        .associations()
        .iter()
        .find(|a| a.name() == "tags")
        .unwrap();
    assert_eq!(tags.kind(), AssocKind::ManyToMany);
    match &tags.link {
        Link::Join {
            table,
            owner_column,
            related_column,
            ..
        } => {
            assert_eq!(table, "posts_tags");
            assert_eq!(owner_column, "post_id");
            assert_eq!(related_column, "tag_id");
        }
        other => panic!("unexpected link {other:?}"),
    }
    assert_eq!(r.join_tables(), ["posts_tags"]);

    let address = r.get("Address").unwrap();
    assert!(address.is_embedded());
    assert_eq!(address.source(), None);
    assert!(address.primary_key().is_empty());

    let options = file.options.expect("the [options] table");
    let expected: toml::Table = toml::from_str(
        r#"
chunk_size = 500
timeout = 30
placeholders = { Author = { name = "Anonymous" }, Post = { inserted_at = "now()" } }
recover_changeset_errors = { Post = { title = "UNTITLED" } }
on_conflict = { Tag = "nothing", posts_tags = "nothing", Post = "replace:title" }
conflict_target = { Setting = ["key"] }
[upsert]
replace_all_except = ["inserted_at"]
"#,
    )
    .unwrap();
    assert_eq!(options, expected);
}

#[test]
fn loads_the_example_file() {
    let file = Registry::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/blog/schema.toml"
    ))
    .unwrap();
    assert!(file.options.is_none());
    assert_eq!(file.registry.schema_names().len(), 8);
    assert_eq!(
        field_names(&file.registry, "Author"),
        field_names(&load(BLOG).unwrap().registry, "Author")
    );
}

#[test]
fn missing_file_is_an_io_error() {
    let err = Registry::from_file("/nonexistent/bulkinup/schema.toml").unwrap_err();
    assert!(matches!(err, Error::Io { path: Some(ref p), .. } if p.contains("nonexistent")));
}

/// The blog registry written with the builder API.
fn blog_in_code() -> Registry {
    let ts = FieldType::UtcDatetimeUsec;
    let simple = |name: &str, source: &str, fields: &[(&str, FieldType)]| {
        let mut def = SchemaDef::new(name).source(source);
        for (f, ty) in fields {
            def = def.field(*f, ty.clone());
        }
        let names: Vec<&str> = fields.iter().map(|(f, _)| *f).collect();
        def.changeset(
            "changeset",
            ChangesetDef::new().cast(names.clone()).required(names),
        )
    };
    Registry::builder()
        .schema(
            SchemaDef::new("Author")
                .source("authors")
                .primary_key(["id"])
                .field("id", FieldType::Integer)
                .field("name", FieldType::String)
                .field("phone_number", FieldType::String)
                .field("inserted_at", ts.clone())
                .has_many("posts", "Post")
                .assoc(
                    AssocDef::new("profile", AssocKind::HasOne, "Profile").foreign_key("author_id"),
                )
                .embeds_one("address", "Address")
                .embeds_many("social_links", "SocialLink")
                .changeset(
                    "changeset",
                    ChangesetDef::new()
                        .cast(["id", "name", "phone_number"])
                        .required(["id", "name"])
                        .format("phone_number", r"^\d{3}-\d{4}$")
                        .cast_assoc("posts")
                        .cast_assoc("profile")
                        .cast_embed("address")
                        .cast_embed("social_links"),
                )
                .changeset(
                    "upsert_changeset",
                    ChangesetDef::new().cast(["id"]).required(["id"]),
                ),
        )
        .schema(
            SchemaDef::new("Post")
                .source("posts")
                .field("id", FieldType::Integer)
                .field("author_id", FieldType::Integer)
                .field("title", FieldType::String)
                .field("inserted_at", ts)
                .belongs_to("category", "Category")
                .has_many("comments", "Comment")
                .assoc(
                    AssocDef::new("tags", AssocKind::ManyToMany, "Tag")
                        .join_through("posts_tags")
                        .join_keys(("post_id", "id"), ("tag_id", "id")),
                )
                .changeset(
                    "changeset",
                    ChangesetDef::new()
                        .cast(["id", "author_id", "category_id", "title"])
                        .required(["id", "author_id", "title"])
                        .cast_assoc("category")
                        .cast_assoc("comments")
                        .cast_assoc("tags"),
                ),
        )
        .schema(simple(
            "Comment",
            "comments",
            &[
                ("id", FieldType::Integer),
                ("post_id", FieldType::Integer),
                ("body", FieldType::String),
            ],
        ))
        .schema(simple(
            "Profile",
            "profiles",
            &[
                ("id", FieldType::Integer),
                ("author_id", FieldType::Integer),
                ("bio", FieldType::String),
            ],
        ))
        .schema(simple(
            "Category",
            "categories",
            &[("id", FieldType::Integer), ("name", FieldType::String)],
        ))
        .schema(simple(
            "Tag",
            "tags",
            &[("id", FieldType::Integer), ("name", FieldType::String)],
        ))
        .schema(
            SchemaDef::embedded("Address")
                .primary_key(Vec::<String>::new())
                .field("street", FieldType::String)
                .field("city", FieldType::String)
                .changeset(
                    "changeset",
                    ChangesetDef::new()
                        .cast(["street", "city"])
                        .required(["street", "city"]),
                ),
        )
        .schema(
            SchemaDef::embedded("SocialLink")
                .primary_key(Vec::<String>::new())
                .field("label", FieldType::String)
                .field("url", FieldType::String)
                .changeset(
                    "changeset",
                    ChangesetDef::new()
                        .cast(["label", "url"])
                        .required(["label", "url"]),
                ),
        )
        .build()
        .unwrap()
}

/// Everything a registry shows through its public getters.
fn observe(r: &Registry) -> Vec<String> {
    let mut out = vec![format!("schemas {:?}", r.schema_names())];
    out.push(format!("join tables {:?}", r.join_tables()));
    for name in r.schema_names() {
        let s = r.get(name).unwrap();
        out.push(format!(
            "{name}: source {:?} embedded {} pk {:?} changesets {:?}",
            s.source(),
            s.is_embedded(),
            s.primary_key(),
            s.changeset_names()
        ));
        for f in s.fields() {
            out.push(format!(
                "{name}.{}: {} in {} auto {}",
                f.name(),
                f.ty(),
                f.column(),
                f.is_autogenerated()
            ));
        }
        for a in s.associations() {
            out.push(format!("{name}.{}: {}", a.name(), a.kind()));
        }
    }
    out
}

#[test]
fn file_and_builder_agree() {
    let from_file = load(BLOG).unwrap().registry;
    let from_code = blog_in_code();
    assert_eq!(observe(&from_file), observe(&from_code));
    // Spot checks, so an empty observation cannot pass.
    let observed = observe(&from_file);
    assert!(observed.contains(&"Author.posts: has_many".to_string()));
    assert!(observed.contains(&"Post.category_id: id in category_id auto false".to_string()));
    assert!(observed.contains(&"Author.address: embed in address auto false".to_string()));
}

#[test]
fn reads_every_key() {
    let file = load(
            r#"
[schemas.Account]
source = "accounts"
primary_key = ["uid"]
timestamps = true
[schemas.Account.fields]
uid = { type = "integer", autogenerate = true }
phone = { type = "string", source = "phone_col" }
role = { type = "string", default = "user" }
tags = "array:string"
score = "float"
[schemas.Account.associations]
owner = { kind = "belongs_to", related = "Account", foreign_key = "owner_uid", references = "uid", type = "integer" }
settings = { kind = "embeds_one", related = "Settings", source = "settings_json" }
children = { kind = "has_many", related = "Account", foreign_key = "owner_uid", references = "uid" }
grandchildren = { kind = "has_many", through = ["children", "children"] }
[schemas.Account.changesets.changeset]
cast = ["uid", "phone", "role", "tags", "score", "owner_uid"]
required = ["uid"]
format = { phone = '^\d+$' }
length = { phone = { min = 3, max = 12 }, tags = { is = 2 } }
number = { score = { greater_than = 0, less_than_or_equal_to = 9.5 } }
inclusion = { role = ["user", "admin"] }
exclusion = { role = ["root"] }
cast_assoc = [{ name = "children", with = "child" }]
cast_embed = ["settings"]
[schemas.Account.changesets.child]
cast = ["uid"]
[schemas.Settings]
embedded = true
fields = { theme = "string" }
[schemas.Settings.changesets.changeset]
cast = ["theme"]
"#,
        )
        .unwrap();
    let r = &file.registry;
    let a = r.get("Account").unwrap();
    assert_eq!(a.primary_key(), ["uid"]);
    assert!(a.field("uid").unwrap().is_autogenerated());
    assert_eq!(a.field("phone").unwrap().column(), "phone_col");
    assert_eq!(
        a.field("role").unwrap().default,
        crate::Value::String("user".into())
    );
    assert_eq!(
        a.field("tags").unwrap().ty(),
        &FieldType::Array(Box::new(FieldType::String))
    );
    assert_eq!(a.field("owner_uid").unwrap().ty(), &FieldType::Integer);
    assert_eq!(a.field("settings").unwrap().column(), "settings_json");
    let cs = a.resolved_changeset("changeset").unwrap();
    assert_eq!(cs.rules.len(), 6);
    assert!(matches!(
        &cs.rules[3].1,
        crate::schema::Rule::Number(n) if n.greater_than == Some(0.0) && n.less_than_or_equal_to == Some(9.5)
    ));
    assert!(matches!(
        &cs.rules[1].1,
        crate::schema::Rule::Length(l) if l.min == Some(3) && l.max == Some(12) && l.is.is_none()
    ));
    let children = a.assoc_index["children"];
    assert!(cs.cast_assoc.contains(&(children, "child".to_string())));
    let settings = r.get("Settings").unwrap();
    // Embedded schemas get a `binary_id` primary key `id` by default.
    assert_eq!(settings.primary_key(), ["id"]);
    assert_eq!(settings.field("id").unwrap().ty(), &FieldType::BinaryId);
}

const TAG: &str =
    "[schemas.Tag]\nsource = \"tags\"\nfields = { id = \"integer\", name = \"string\" }\n";

#[test]
fn option_locations_name_every_key_under_options() {
    let file = load(BLOG).unwrap();
    // `FILE:LINE:COLUMN` of `key` on the first line of BLOG that starts with `line_start`.
    let at = |line_start: &str, key: &str| {
        let (i, line) = BLOG
            .lines()
            .enumerate()
            .find(|(_, l)| l.starts_with(line_start))
            .expect("a line of BLOG");
        let column = line[..line.find(key).expect("the key on its line")]
            .chars()
            .count();
        format!("t.toml:{}:{}", i + 1, column + 1)
    };
    let locations = &file.option_locations;
    assert_eq!(locations["options"], at("[options]", "options"));
    assert_eq!(
        locations["options.chunk_size"],
        at("chunk_size", "chunk_size")
    );
    assert_eq!(
        locations["options.placeholders.Post.inserted_at"],
        at("placeholders", "inserted_at")
    );
    assert_eq!(
        locations["options.upsert.replace_all_except"],
        at("replace_all_except", "replace_all_except")
    );
    assert_eq!(
        locations["options.conflict_target.Setting"],
        at("conflict_target", "Setting")
    );
    assert!(locations.keys().all(|k| k.starts_with("options")));
    assert!(load(TAG).unwrap().option_locations.is_empty());
}

#[test]
fn an_assoc_def_serializes_as_the_table_the_loader_reads() {
    let tags = AssocDef::new("tags", AssocKind::ManyToMany, "Tag")
        .join_through("posts_tags")
        .join_keys(("post_id", "id"), ("tag_id", "id"))
        .join_defaults([("role", serde_json::json!("member"))]);
    let text = toml::Value::try_from(&tags).unwrap().to_string();
    assert_eq!(
        text,
        r#"{ kind = "many_to_many", related = "Tag", join_through = "posts_tags", join_keys = [["post_id", "id"], ["tag_id", "id"]], join_defaults = { role = "member" } }"#
    );
    let file = format!(
        "[schemas.Post]\nsource = \"posts\"\nfields = {{ id = \"integer\" }}\n\
         [schemas.Post.associations]\ntags = {text}\n\
         [schemas.Tag]\nsource = \"tags\"\nfields = {{ id = \"integer\" }}\n"
    );
    let registry = load(&file).unwrap().registry;
    let post = registry.get("Post").unwrap();
    assert_eq!(post.associations()[0].kind(), AssocKind::ManyToMany);
}
