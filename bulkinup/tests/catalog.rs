//! Schema inference and schema checks (`bulkinup::catalog`) against the live catalog of
//! SQLite, PostgreSQL and MySQL/MariaDB.

mod common;

use bulkinup::catalog::{self, Mismatch};
use bulkinup::{Error, FieldType, Options, Registry};
use common::{Kind, TestDb};
use pretty_assertions::assert_eq;
use serde_json::{Value as J, json};

on_every_database!(blog:
    inferred_blog_schema_loads_and_writes_nested_authors,
    inferred_blog_schema_loads_the_blog_example_unchanged,
    inference_of_an_empty_json_column_is_a_map,
    inferred_blog_schema_names_every_association,
    inference_is_deterministic_and_filters_tables,
    inference_maps_column_types,
    inference_names_associations_without_collisions,
    inference_makes_a_self_referencing_join_table_a_link_only_association,
    inferred_schemas_pass_the_check,
    check_of_the_blog_example_finds_no_mismatch,
    check_names_a_missing_column_and_a_missing_table,
    check_names_a_join_table_without_its_unique_index,
    check_reports_types_generated_and_unwritten_columns,
    inference_in_a_prefix_reads_only_its_tables_and_gives_every_schema_the_prefix,
    the_file_inferred_from_a_prefix_checks_clean_and_writes_into_the_prefix,
    check_reads_each_schemas_own_prefix_else_the_given_one_else_the_current_one,
    a_prefix_that_does_not_exist_is_an_error_naming_it,
);

fn load(text: &str) -> Registry {
    Registry::from_toml_str(text, "inferred.toml")
        .unwrap_or_else(|e| panic!("the inferred file loads: {e}\n{text}"))
        .registry
}

async fn inferred_blog_schema_loads_and_writes_nested_authors(t: &TestDb) {
    let text = catalog::infer(&t.db, None, None).await.unwrap();
    let registry = load(&text);
    t.db.execute_script("INSERT INTO categories (id, name) VALUES (3, 'seeded')")
        .await
        .unwrap();

    let author = registry.get("Author").unwrap();
    let mut item = json!({
        "id": 1, "name": "Alice", "phone_number": "555-0001",
        "profile": {"id": 1, "author_id": 1, "bio": "bio 1"},
        "posts": [
            {"id": 11, "author_id": 1, "category_id": 3, "title": "Hello",
             "comments": [{"id": 111, "post_id": 11, "body": "c1"}, {"id": 112, "post_id": 11, "body": "c2"}],
             "tags": [{"id": 7, "name": "t7"}, {"id": 8, "name": "t8"}]},
            {"id": 12, "author_id": 1, "title": "Again",
             "comments": [{"id": 121, "post_id": 12, "body": "c3"}],
             "tags": [{"id": 7, "name": "t7"}]}
        ]
    });
    // JSON columns of empty tables are `map` fields (objects only).
    let address = json!({"street": "1 Main St", "city": "Springfield"});
    assert_eq!(author.field("address").unwrap().ty(), &FieldType::Map);
    item["address"] = address.clone();
    let items = vec![item.clone(), json!({"id": 2, "name": "Bob"})];

    let s = bulkinup::upsert(&t.db, &registry, "Author", items, &Options::default())
        .await
        .unwrap();
    assert_eq!((s.written, s.skipped), (2, 0));
    assert_eq!(
        s.to_json()["rows"],
        json!({"authors": 2, "comments": 3, "posts": 2, "posts_tags": 3, "profiles": 1, "tags": 2})
    );
    assert_eq!(
        t.column("SELECT name FROM authors ORDER BY id").await,
        [json!("Alice"), json!("Bob")]
    );
    assert_eq!(
        t.column("SELECT bio FROM profiles WHERE author_id = 1")
            .await,
        [json!("bio 1")]
    );
    let posts: Vec<J> = t
        .rows("SELECT id, author_id, category_id, title FROM posts ORDER BY id")
        .await
        .into_iter()
        .map(J::Object)
        .collect();
    assert_eq!(
        posts,
        [
            json!({"id": 11, "author_id": 1, "category_id": 3, "title": "Hello"}),
            json!({"id": 12, "author_id": 1, "category_id": null, "title": "Again"}),
        ]
    );
    assert_eq!(
        t.column("SELECT post_id FROM comments ORDER BY id").await,
        [json!(11), json!(11), json!(12)]
    );
    let links = t.post_tag_links().await;
    assert_eq!(links, [json!([11, 7]), json!([11, 8]), json!([12, 7])]);
    assert_eq!(
        t.column("SELECT address FROM authors WHERE id = 1").await,
        [address]
    );

    // Again, with a changed title: the upsert updates, and the links that exist are kept.
    item["posts"][0]["title"] = json!("Hello again");
    let s = bulkinup::upsert(&t.db, &registry, "Author", vec![item], &Options::default())
        .await
        .unwrap();
    assert_eq!((s.written, s.skipped), (1, 0));
    assert_eq!(
        t.column("SELECT title FROM posts WHERE id = 11").await,
        [json!("Hello again")]
    );
    assert_eq!(t.count("posts_tags").await, 3);
}

/// Every table of the blog, rows in key order, for comparing two loads.
async fn blog_snapshot(t: &TestDb) -> Vec<Vec<J>> {
    let mut tables = Vec::new();
    for table in common::BLOG_TABLES {
        // The key comes first: `id`, or `post_id, tag_id`.
        let rows = t
            .rows(&format!("SELECT * FROM {table} ORDER BY 1, 2"))
            .await;
        assert!(!rows.is_empty(), "{table} has rows");
        tables.push(rows.into_iter().map(J::Object).collect());
    }
    tables
}

/// Loads the bundled example files with `registry`.
async fn load_blog_example(t: &TestDb, registry: &Registry) -> Vec<(u64, u64)> {
    let mut counts = Vec::new();
    for (root, text) in [
        (
            "Category",
            include_str!("../../examples/blog/categories.ndjson"),
        ),
        ("Author", include_str!("../../examples/blog/authors.ndjson")),
    ] {
        let items: Vec<J> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let s = bulkinup::upsert(&t.db, registry, root, items, &Options::default())
            .await
            .unwrap();
        counts.push((s.written, s.skipped));
    }
    counts
}

async fn inferred_blog_schema_loads_the_blog_example_unchanged(t: &TestDb) {
    // The example loaded with the hand-written schema, as a user's database would hold it.
    let by_hand = load_blog_example(t, &common::blog()).await;
    let expected = blog_snapshot(t).await;
    let text = catalog::infer(&t.db, None, None).await.unwrap();
    assert!(
        text.contains(r#"social_links = { kind = "embeds_many", related = "SocialLink" }"#),
        "{text}"
    );
    assert!(text.contains(r#"cast = ["label", "url"]"#), "{text}");
    let inferred = load(&text);

    // Emptied, then loaded again with the inferred file as printed.
    t.empty_blog_tables().await;
    assert_eq!(t.count("authors").await, 0);
    let counts = load_blog_example(t, &inferred).await;
    assert_eq!(counts, by_hand, "the same items written and skipped");
    assert_eq!(blog_snapshot(t).await, expected);
}

async fn inference_of_an_empty_json_column_is_a_map(t: &TestDb) {
    // No stored value to sample: `map`, which takes objects.
    let text = catalog::infer(&t.db, None, None).await.unwrap();
    assert!(text.contains("social_links = \"map\"\n"), "{text}");
    // Stored arrays of scalars are not objects: the `map` stays, with a note.
    t.db.execute_script(r#"INSERT INTO authors (id, name, social_links) VALUES (1, 'a', '["x"]')"#)
        .await
        .unwrap();
    let text = catalog::infer(&t.db, None, None).await.unwrap();
    assert!(
        text.contains(
            r#"social_links = "map"  # stored values are JSON array; a `map` takes objects only"#
        ),
        "{text}"
    );
}

async fn inferred_blog_schema_names_every_association(t: &TestDb) {
    let text = catalog::infer(&t.db, None, None).await.unwrap();
    let registry = load(&text);
    assert_eq!(
        registry.schema_names(),
        ["Author", "Category", "Comment", "Post", "Profile", "Tag"],
        "posts_tags is a join table, not a schema"
    );
    let assocs = |schema: &str| -> Vec<String> {
        registry
            .get(schema)
            .unwrap()
            .associations()
            .iter()
            .map(|a| format!("{} {}", a.kind(), a.name()))
            .collect()
    };
    // `profiles.author_id` is UNIQUE: one profile per author.
    assert_eq!(assocs("Author"), ["has_many posts", "has_one profile"]);
    assert_eq!(
        assocs("Post"),
        [
            "belongs_to author",
            "belongs_to category",
            "has_many comments",
            "many_to_many tags"
        ]
    );
    assert_eq!(assocs("Tag"), ["many_to_many posts"]);
    assert_eq!(assocs("Category"), ["has_many posts"]);
    assert_eq!(assocs("Comment"), ["belongs_to post"]);
    for line in [
        r#"tags = { kind = "many_to_many", related = "Tag", join_through = "posts_tags", join_keys = [["post_id", "id"], ["tag_id", "id"]] }"#,
        r#"posts = { kind = "many_to_many", related = "Post", join_through = "posts_tags", join_keys = [["tag_id", "id"], ["post_id", "id"]] }"#,
        r#"posts = { kind = "has_many", related = "Post", foreign_key = "category_id" }"#,
        r#"author = { kind = "belongs_to", related = "Author", foreign_key = "author_id" }"#,
        r#"cast = ["id", "author_id", "category_id", "title", "inserted_at"]"#,
        r#"cast_assoc = ["comments", "tags"]"#,
        "# Join tables (many_to_many, no schema of their own): posts_tags.",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    // SQLite's `INTEGER PRIMARY KEY` is generated by the database; the BIGINT keys of the
    // other two are not.
    let (id, required) = match t.kind {
        Kind::Sqlite => (
            r#"id = { type = "id", autogenerate = true }"#,
            r#"required = ["author_id", "title"]"#,
        ),
        _ => (r#"id = "id""#, r#"required = ["id", "author_id", "title"]"#),
    };
    assert!(text.contains(id), "{text}");
    assert!(text.contains(required), "{text}");
}

async fn inference_is_deterministic_and_filters_tables(t: &TestDb) {
    let first = catalog::infer(&t.db, None, None).await.unwrap();
    assert_eq!(catalog::infer(&t.db, None, None).await.unwrap(), first);

    let some = ["posts", "tags", "posts_tags"].map(String::from);
    let text = catalog::infer(&t.db, Some(&some), None).await.unwrap();
    let registry = load(&text);
    assert_eq!(registry.schema_names(), ["Post", "Tag"]);
    assert!(text.contains(r#"tags = { kind = "many_to_many""#), "{text}");
    // The foreign keys to tables left out are comments, not associations.
    assert!(
        text.contains(
            "# foreign key (author_id) -> authors (id): not inferred, `authors` is not among the inferred tables"
        ),
        "{text}"
    );
    assert!(!text.contains("belongs_to"), "{text}");

    // Without the join table's ends, the join table is an ordinary schema.
    let text = catalog::infer(&t.db, Some(&["posts_tags".to_string()]), None)
        .await
        .unwrap();
    assert_eq!(load(&text).schema_names(), ["PostsTag"]);
    assert!(
        text.contains(r#"primary_key = ["post_id", "tag_id"]"#),
        "{text}"
    );

    let err = catalog::infer(&t.db, Some(&["nope".to_string()]), None)
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::InvalidOption { name, .. } if name == "tables"));
    let message = err.to_string();
    assert!(
        message.contains("no table `nope`") && message.contains("posts_tags"),
        "{message}"
    );
}

/// A table with a column of every mappable type, and a generated column.
fn gadgets_ddl(kind: Kind) -> &'static str {
    match kind {
        Kind::Sqlite => {
            "CREATE TABLE gadgets (
               id INTEGER PRIMARY KEY,
               code UUID NOT NULL UNIQUE,
               label VARCHAR(40) NOT NULL,
               active BOOLEAN NOT NULL DEFAULT 1,
               weight REAL,
               price DECIMAL(10, 2),
               specs JSON,
               made_on DATE,
               opens_at TIME,
               seen_at DATETIME,
               sold_at TIMESTAMPTZ,
               image BLOB,
               count UNSIGNED BIG INT,
               anything,
               label_upper TEXT GENERATED ALWAYS AS (upper(label)) VIRTUAL
             )"
        }
        Kind::Postgres => {
            "CREATE TYPE mood AS ENUM ('happy', 'sad');
             CREATE TABLE gadgets (
               id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
               code UUID NOT NULL UNIQUE,
               label VARCHAR(40) NOT NULL,
               active BOOLEAN NOT NULL DEFAULT true,
               weight DOUBLE PRECISION,
               price NUMERIC(10, 2),
               specs JSONB,
               made_on DATE,
               opens_at TIME,
               seen_at TIMESTAMP(6),
               sold_at TIMESTAMPTZ,
               image BYTEA,
               sizes INTEGER[],
               mood mood,
               label_upper TEXT GENERATED ALWAYS AS (upper(label)) STORED
             )"
        }
        Kind::MySql => {
            "CREATE TABLE gadgets (
               id BIGINT AUTO_INCREMENT PRIMARY KEY,
               code CHAR(36) NOT NULL UNIQUE,
               label VARCHAR(40) NOT NULL,
               active BOOLEAN NOT NULL DEFAULT true,
               weight DOUBLE,
               price DECIMAL(10, 2),
               specs JSON,
               made_on DATE,
               opens_at TIME,
               seen_at DATETIME(6),
               sold_at TIMESTAMP(6) NULL,
               image BLOB,
               count INT UNSIGNED,
               label_upper VARCHAR(40) AS (UPPER(label)) VIRTUAL
             ) ENGINE = InnoDB"
        }
    }
}

async fn inference_maps_column_types(t: &TestDb) {
    t.db.execute_script(gadgets_ddl(t.kind)).await.unwrap();
    let text = catalog::infer(&t.db, Some(&["gadgets".to_string()]), None)
        .await
        .unwrap();
    load(&text);
    let fields = text
        .split("[schemas.Gadget.fields]\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_else(|| panic!("no fields in\n{text}"));
    let common = r#"id = { type = "id", autogenerate = true }
code = "CODE"
label = "string"
active = "boolean"
weight = "float"
price = "decimal"
specs = "SPECS"
made_on = "date"
opens_at = "time"
seen_at = "naive_datetime_usec"
sold_at = "SOLD_AT"
image = "binary""#;
    let expected = match t.kind {
        Kind::Sqlite => {
            common
                .replace("CODE", "binary_id")
                .replace("SPECS", "map")
                .replace("SOLD_AT", "utc_datetime_usec")
                + "\ncount = \"integer\"\nanything = \"string\"  # column type ``: no field type matches it"
        }
        Kind::Postgres => {
            common
                .replace("CODE", "binary_id")
                .replace("SPECS", "map")
                .replace("SOLD_AT", "utc_datetime_usec")
                + "\nsizes = \"array:integer\"\nmood = \"string\"  # column type `mood`: no field type matches it"
        }
        Kind::MySql => {
            common
                .replace("CODE", "string")
                .replace("SPECS", "map")
                // MySQL's TIMESTAMP is read and written in the session's time zone.
                .replace("SOLD_AT", "naive_datetime_usec")
                + "\ncount = \"integer\""
        }
    };
    assert_eq!(fields, expected);
    // The generated column is left out; the changeset requires what has no default.
    assert!(!text.contains("label_upper"), "{text}");
    assert!(text.contains(r#"required = ["code", "label"]"#), "{text}");
    assert!(text.contains(r#"primary_key = ["id"]"#), "{text}");
}

async fn inference_names_associations_without_collisions(t: &TestDb) {
    let ts = match t.kind {
        Kind::MySql => "DATETIME(6)",
        _ => "TIMESTAMP",
    };
    t.db.execute_script(&format!(
        "CREATE TABLE users (id BIGINT PRIMARY KEY, email VARCHAR(100) NOT NULL, messages TEXT);
         CREATE TABLE messages (id BIGINT PRIMARY KEY, sender_id BIGINT NOT NULL, recipient_id BIGINT, body TEXT,
           FOREIGN KEY (sender_id) REFERENCES users (id), FOREIGN KEY (recipient_id) REFERENCES users (id));
         CREATE TABLE user_settings (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL UNIQUE, theme TEXT,
           inserted_at {ts} NOT NULL, updated_at {ts} NOT NULL,
           FOREIGN KEY (user_id) REFERENCES users (id));
         CREATE TABLE follows (follower_id BIGINT NOT NULL, followee_id BIGINT NOT NULL, inserted_at {ts},
           PRIMARY KEY (follower_id, followee_id),
           FOREIGN KEY (follower_id) REFERENCES users (id), FOREIGN KEY (followee_id) REFERENCES users (id));
         CREATE TABLE editions (book_id BIGINT NOT NULL, number BIGINT NOT NULL, PRIMARY KEY (book_id, number));
         CREATE TABLE copies (id BIGINT PRIMARY KEY, book_id BIGINT NOT NULL, edition_number BIGINT NOT NULL,
           FOREIGN KEY (book_id, edition_number) REFERENCES editions (book_id, number));"
    ))
    .await
    .unwrap();
    let tables = [
        "users",
        "messages",
        "user_settings",
        "follows",
        "editions",
        "copies",
    ]
    .map(String::from);
    let text = catalog::infer(&t.db, Some(&tables), None).await.unwrap();
    let registry = load(&text);
    assert_eq!(
        registry.schema_names(),
        ["Copy", "Edition", "Message", "User", "UserSetting"]
    );
    let user = text
        .split("[schemas.User.associations]\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_else(|| panic!("no User associations in\n{text}"));
    assert_eq!(
        user,
        r#"followees = { kind = "many_to_many", related = "User", join_through = "follows", join_keys = [["follower_id", "id"], ["followee_id", "id"]], write_related = false }
recipient_messages = { kind = "has_many", related = "Message", foreign_key = "recipient_id" }
sender_messages = { kind = "has_many", related = "Message", foreign_key = "sender_id" }
user_setting = { kind = "has_one", related = "UserSetting", foreign_key = "user_id" }"#
    );
    for line in [
        r#"sender = { kind = "belongs_to", related = "User", foreign_key = "sender_id" }"#,
        r#"recipient = { kind = "belongs_to", related = "User", foreign_key = "recipient_id" }"#,
        r#"user = { kind = "belongs_to", related = "User", foreign_key = "user_id" }"#,
        "# foreign key (book_id, edition_number) -> editions (book_id, number): not inferred, associations have one-column keys",
        r#"cast_assoc = ["followees", "recipient_messages", "sender_messages", "user_setting"]"#,
        // Both timestamps: the engine sets them, so they are not required.
        "[schemas.UserSetting]\nsource = \"user_settings\"\nprimary_key = [\"id\"]\ntimestamps = true\n",
        "cast = [\"id\", \"user_id\", \"theme\", \"inserted_at\", \"updated_at\"]\nrequired = [\"id\", \"user_id\"]\n",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }

    // The inferred file writes a user, its setting (with timestamps) and a follow link (to
    // a user of the same call: `followees` is link-only and writes no user).
    let items = vec![
        json!({
            "id": 1, "email": "a@example.com",
            "user_setting": {"id": 10, "user_id": 1, "theme": "dark"},
            "followees": [{"id": 2}],
        }),
        json!({"id": 2, "email": "b@example.com"}),
    ];
    let s = bulkinup::upsert(&t.db, &registry, "User", items, &Options::default())
        .await
        .unwrap();
    assert_eq!(
        s.to_json()["rows"],
        json!({"users": 2, "user_settings": 1, "follows": 1})
    );
    let settings = t
        .rows("SELECT theme, inserted_at, updated_at FROM user_settings")
        .await;
    assert_eq!(settings[0]["theme"], json!("dark"));
    assert!(settings[0]["inserted_at"].is_string(), "{settings:?}");
    assert_eq!(settings[0]["inserted_at"], settings[0]["updated_at"]);
    let follows = t.rows("SELECT follower_id, followee_id FROM follows").await;
    assert_eq!(
        (&follows[0]["follower_id"], &follows[0]["followee_id"]),
        (&json!(1), &json!(2))
    );
}

async fn inference_makes_a_self_referencing_join_table_a_link_only_association(t: &TestDb) {
    t.db.execute_script(
        "CREATE TABLE countries (cca3 VARCHAR(3) PRIMARY KEY, name VARCHAR(100) NOT NULL);
         CREATE TABLE country_borders (country_code VARCHAR(3) NOT NULL, neighbour_code VARCHAR(3) NOT NULL,
           PRIMARY KEY (country_code, neighbour_code),
           FOREIGN KEY (country_code) REFERENCES countries (cca3),
           FOREIGN KEY (neighbour_code) REFERENCES countries (cca3));",
    )
    .await
    .unwrap();
    let tables = ["countries", "country_borders"].map(String::from);
    let text = catalog::infer(&t.db, Some(&tables), None).await.unwrap();
    // One association, from the first column to the second, named after the second.
    assert!(
        text.contains(
            "[schemas.Country.associations]\nneighbour_codes = { kind = \"many_to_many\", related = \"Country\", join_through = \"country_borders\", join_keys = [[\"country_code\", \"cca3\"], [\"neighbour_code\", \"cca3\"]], write_related = false }\n\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("cast_assoc = [\"neighbour_codes\"]\n"),
        "{text}"
    );
    let registry = load(&text);
    assert_eq!(registry.schema_names(), ["Country"]);
    assert_eq!(catalog::check(&t.db, &registry, None).await.unwrap(), []);

    // It writes the links only: Belgium's neighbours come later in the call, or are there.
    t.db.execute_script("INSERT INTO countries (cca3, name) VALUES ('LUX', 'Luxembourg')")
        .await
        .unwrap();
    let items = vec![
        json!({"cca3": "BEL", "name": "Belgium", "neighbour_codes": [{"cca3": "FRA"}, {"cca3": "LUX"}]}),
        json!({"cca3": "FRA", "name": "France", "neighbour_codes": [{"cca3": "BEL"}]}),
    ];
    let s = bulkinup::upsert(&t.db, &registry, "Country", items, &Options::default())
        .await
        .unwrap();
    assert_eq!(
        s.to_json()["rows"],
        json!({"countries": 2, "country_borders": 3})
    );
    let rows: Vec<J> = t
        .rows("SELECT cca3, name FROM countries ORDER BY cca3")
        .await
        .into_iter()
        .map(J::Object)
        .collect();
    assert_eq!(
        rows,
        [
            json!({"cca3": "BEL", "name": "Belgium"}),
            json!({"cca3": "FRA", "name": "France"}),
            json!({"cca3": "LUX", "name": "Luxembourg"}),
        ]
    );
    let borders: Vec<J> = t
        .rows("SELECT country_code, neighbour_code FROM country_borders ORDER BY country_code, neighbour_code")
        .await
        .into_iter()
        .map(|r| json!([r["country_code"], r["neighbour_code"]]))
        .collect();
    assert_eq!(
        borders,
        [
            json!(["BEL", "FRA"]),
            json!(["BEL", "LUX"]),
            json!(["FRA", "BEL"])
        ]
    );
}

async fn inferred_schemas_pass_the_check(t: &TestDb) {
    t.db.execute_script(gadgets_ddl(t.kind)).await.unwrap();
    let text = catalog::infer(&t.db, None, None).await.unwrap();
    let mismatches = catalog::check(&t.db, &load(&text), None).await.unwrap();
    assert_eq!(mismatches, [], "{text}");
}

async fn check_of_the_blog_example_finds_no_mismatch(t: &TestDb) {
    let mismatches = catalog::check(&t.db, &common::blog(), None).await.unwrap();
    assert_eq!(mismatches, []);
}

async fn check_names_a_missing_column_and_a_missing_table(t: &TestDb) {
    t.db.execute_script("ALTER TABLE comments DROP COLUMN body")
        .await
        .unwrap();
    let mismatches = catalog::check(&t.db, &common::blog(), None).await.unwrap();
    assert_eq!(
        mismatches,
        [Mismatch::MissingColumn {
            schema: "Comment".into(),
            field: "body".into(),
            table: "comments".into(),
            column: "body".into(),
        }]
    );
    assert_eq!(
        mismatches[0].to_string(),
        "schema `Comment`: field `body` has no column: table `comments` has no column `body` (add the column, or fix the field's `source`)"
    );
    assert_eq!(
        (mismatches[0].schema(), mismatches[0].table()),
        ("Comment", "comments")
    );
    assert_eq!(
        serde_json::to_value(&mismatches[0]).unwrap(),
        json!({"kind": "missing_column", "schema": "Comment", "field": "body", "table": "comments", "column": "body"})
    );

    let registry = Registry::from_toml_str(
        r#"
[schemas.Note]
source = "notes"
fields = { id = "integer" }
[schemas.Post]
source = "posts"
fields = { id = "integer", title = "string" }
associations = { labels = { kind = "many_to_many", related = "Label", join_through = "posts_labels" }, tags = { kind = "many_to_many", related = "Label", join_through = "posts_tags", join_keys = [["post_id", "id"], ["label_id", "id"]] } }
[schemas.Label]
source = "tags"
fields = { id = "integer", name = "string" }
"#,
        "t.toml",
    )
    .unwrap()
    .registry;
    let messages: Vec<String> = catalog::check(&t.db, &registry, None)
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        messages,
        [
            "schema `Note`: table `notes` does not exist (create it, or fix the schema's `source`)",
            "schema `Post`: column `author_id` of table `posts` is NOT NULL without a default, and no field writes it: every insert fails (add a field, or a default)",
            "schema `Post`, many_to_many `labels`: join table `posts_labels` does not exist",
            "schema `Post`, many_to_many `tags`: join table `posts_tags` has no column `label_id` (fix `join_keys`, or add the column)",
            "schema `Post`, many_to_many `tags`: column `tag_id` of join table `posts_tags` is NOT NULL without a default, and join rows write only their join keys: every link fails (give it a default)",
        ]
    );
}

async fn check_names_a_join_table_without_its_unique_index(t: &TestDb) {
    let int = match t.kind {
        Kind::Sqlite => "INTEGER",
        _ => "BIGINT",
    };
    t.db.execute_script(&format!(
        "DROP TABLE posts_tags; CREATE TABLE posts_tags (post_id {int} NOT NULL, tag_id {int} NOT NULL)"
    ))
    .await
    .unwrap();
    let mismatches = catalog::check(&t.db, &common::blog(), None).await.unwrap();
    assert_eq!(
        mismatches,
        [Mismatch::JoinTableNotUnique {
            schema: "Post".into(),
            association: "tags".into(),
            table: "posts_tags".into(),
            columns: vec!["post_id".into(), "tag_id".into()],
        }]
    );
    assert_eq!(
        mismatches[0].to_string(),
        "schema `Post`, many_to_many `tags`: join table `posts_tags` has no primary key or unique index on exactly (post_id, tag_id): the upsert needs a unique index on (post_id, tag_id) to skip the links that exist"
    );

    // A unique index on one of the columns only does not do; one on both (in any order) does.
    t.db.execute_script("CREATE UNIQUE INDEX posts_tags_tag ON posts_tags (tag_id)")
        .await
        .unwrap();
    assert_eq!(
        catalog::check(&t.db, &common::blog(), None)
            .await
            .unwrap()
            .len(),
        1
    );
    t.db.execute_script("CREATE UNIQUE INDEX posts_tags_link ON posts_tags (tag_id, post_id)")
        .await
        .unwrap();
    assert_eq!(
        catalog::check(&t.db, &common::blog(), None).await.unwrap(),
        []
    );
}

async fn check_reports_types_generated_and_unwritten_columns(t: &TestDb) {
    t.db.execute_script(gadgets_ddl(t.kind)).await.unwrap();
    let registry = Registry::from_toml_str(
        r#"
[schemas.Gadget]
source = "gadgets"
fields = { id = { type = "id", autogenerate = true }, label = "integer", weight = "decimal", specs = "map", made_on = "date", seen_at = "utc_datetime", label_upper = "string" }
[schemas.ByLabel]
source = "gadgets"
primary_key = ["label"]
fields = { label = "string", code = "binary_id" }
[schemas.Tag]
source = "tags"
fields = { id = { type = "id", autogenerate = true }, name = "string" }
"#,
        "t.toml",
    )
    .unwrap()
    .registry;
    let mismatches = catalog::check(&t.db, &registry, None).await.unwrap();
    let label_type = match t.kind {
        Kind::Sqlite => "VARCHAR(40)",
        Kind::Postgres => "character varying(40)",
        Kind::MySql => "varchar(40)",
    };
    let mut expected = vec![
        Mismatch::PrimaryKeyNotUnique {
            schema: "ByLabel".into(),
            table: "gadgets".into(),
            columns: vec!["label".into()],
        },
        Mismatch::TypeMismatch {
            schema: "Gadget".into(),
            field: "label".into(),
            field_type: "integer".into(),
            table: "gadgets".into(),
            column: "label".into(),
            column_type: label_type.into(),
        },
        Mismatch::GeneratedColumn {
            schema: "Gadget".into(),
            field: "label_upper".into(),
            table: "gadgets".into(),
            column: "label_upper".into(),
        },
        Mismatch::UnwrittenRequiredColumn {
            schema: "Gadget".into(),
            association: None,
            table: "gadgets".into(),
            column: "code".into(),
        },
    ];
    // SQLite's `INTEGER PRIMARY KEY` generates ids; the blog's BIGINT keys elsewhere do not.
    if t.kind != Kind::Sqlite {
        expected.push(Mismatch::NotGenerated {
            schema: "Tag".into(),
            field: "id".into(),
            table: "tags".into(),
            column: "id".into(),
        });
    }
    assert_eq!(mismatches, expected);
    assert_eq!(
        mismatches[1].to_string(),
        format!(
            "schema `Gadget`: field `label` of type `integer` cannot be written to column `label` of table `gadgets`, of type `{label_type}`"
        )
    );
}

// ---------------------------------------------------------------------------------------
// Prefixes: the blog tables are in the test's own place, the events tables in a second
// prefix (a PostgreSQL schema, MySQL database, attached SQLite database).

/// The second prefix with the events tables, and a connection on which it exists.
async fn events_in_a_second_prefix(t: &TestDb) -> (String, bulkinup::Db) {
    let (prefix, db) = t.second_prefix().await;
    db.execute_script(&common::events_ddl(t.kind, &prefix))
        .await
        .unwrap_or_else(|e| panic!("events DDL: {e}"));
    (prefix, db)
}

async fn inference_in_a_prefix_reads_only_its_tables_and_gives_every_schema_the_prefix(t: &TestDb) {
    let (prefix, db) = events_in_a_second_prefix(t).await;
    let text = catalog::infer(&db, None, Some(&prefix)).await.unwrap();
    let registry = load(&text);
    // The events tables, not the blog's; the JSON column shaped by the value stored there.
    assert_eq!(
        registry.schema_names(),
        ["Attendee", "Event", "Payload", "Tag"],
        "{text}"
    );
    for name in ["Attendee", "Event", "Tag"] {
        assert_eq!(
            registry.get(name).unwrap().prefix(),
            Some(prefix.as_str()),
            "{name}"
        );
    }
    assert_eq!(registry.get("Payload").unwrap().prefix(), None);
    assert_eq!(
        text.matches(&format!("prefix = \"{prefix}\"\n")).count(),
        3,
        "{text}"
    );
    assert!(
        text.contains(r#"payload = { kind = "embeds_many", related = "Payload" }"#),
        "{text}"
    );
    assert!(text.contains(r#"join_through = "event_tags""#), "{text}");
    // `tags` is the prefix's table, not the blog's of the same name.
    let tag = registry.get("Tag").unwrap();
    assert!(
        tag.field("label").is_some() && tag.field("name").is_none(),
        "{text}"
    );

    // Without the prefix: the blog, without any prefix.
    let text = catalog::infer(&db, None, None).await.unwrap();
    assert!(
        text.contains("[schemas.Author]") && !text.contains("[schemas.Event]"),
        "{text}"
    );
    assert!(!text.contains("prefix = "), "{text}");

    // A listed table is looked up in the prefix.
    let err = catalog::infer(&db, Some(&["authors".to_string()]), Some(&prefix))
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::InvalidOption { name, .. } if name == "tables"));
    assert!(
        err.to_string()
            .contains(&format!("prefix `{prefix}` has no table `authors`")),
        "{err}"
    );
    db.close().await;
}

async fn the_file_inferred_from_a_prefix_checks_clean_and_writes_into_the_prefix(t: &TestDb) {
    let (prefix, db) = events_in_a_second_prefix(t).await;
    let registry = load(&catalog::infer(&db, None, Some(&prefix)).await.unwrap());
    assert_eq!(catalog::check(&db, &registry, None).await.unwrap(), []);
    assert_eq!(
        catalog::check(&db, &registry, Some(&prefix)).await.unwrap(),
        []
    );

    let item = json!({
        "id": 2, "name": "meetup", "payload": [{"k": 2}],
        "attendees": [{"id": 1, "event_id": 2, "name": "Ann"}],
        "tags": [{"id": 1, "label": "rust"}]
    });
    let s = bulkinup::upsert(&db, &registry, "Event", vec![item], &Options::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((s.written, s.skipped), (1, 0));
    for (table, n) in [
        ("events", 2),
        ("attendees", 1),
        ("tags", 1),
        ("event_tags", 1),
    ] {
        let rows = db
            .fetch_json(&format!("SELECT COUNT(*) AS n FROM {prefix}.{table}"))
            .await
            .unwrap();
        assert_eq!(rows[0]["n"], json!(n), "{prefix}.{table}");
    }
    let rows = db
        .fetch_json(&format!("SELECT payload FROM {prefix}.events WHERE id = 2"))
        .await
        .unwrap();
    let payload = match &rows[0]["payload"] {
        J::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    };
    assert_eq!(payload, json!([{"k": 2}]));
    // The blog table of the same name is untouched.
    assert_eq!(t.count("tags").await, 0);
    db.close().await;
}

/// Events (with their join table) and labels, which are the prefix's `tags`. `{PREFIX}` is
/// replaced by a `prefix = "…"` line for Event, `{LABEL_PREFIX}` for Label.
const EVENTS_SCHEMA: &str = r#"
[schemas.Event]
source = "events"
{PREFIX}
fields = { id = "integer", name = "string" }

[schemas.Event.associations]
labels = { kind = "many_to_many", related = "Label", join_through = "event_tags", join_keys = [["event_id", "id"], ["tag_id", "id"]] }

[schemas.Event.changesets.changeset]
cast = ["id", "name"]
cast_assoc = ["labels"]

[schemas.Label]
source = "tags"
{LABEL_PREFIX}
fields = { id = "integer", label = "string" }

[schemas.Label.changesets.changeset]
cast = ["id", "label"]
"#;

fn events_schema(event_prefix: Option<&str>, label_prefix: Option<&str>) -> Registry {
    let line = |p: Option<&str>| p.map_or(String::new(), |p| format!("prefix = \"{p}\""));
    load(
        &EVENTS_SCHEMA
            .replace("{PREFIX}", &line(event_prefix))
            .replace("{LABEL_PREFIX}", &line(label_prefix)),
    )
}

async fn check_reads_each_schemas_own_prefix_else_the_given_one_else_the_current_one(t: &TestDb) {
    let (prefix, db) = events_in_a_second_prefix(t).await;
    let p = Some(prefix.as_str());
    let (event, label) = ("Event".to_string(), "Label".to_string());
    // In the current place: no events, no join table, and the blog's `tags` has no `label`.
    assert_eq!(
        catalog::check(&db, &events_schema(None, None), None)
            .await
            .unwrap(),
        [
            Mismatch::MissingTable {
                schema: event.clone(),
                table: "events".into()
            },
            Mismatch::MissingJoinTable {
                schema: event.clone(),
                association: "labels".into(),
                table: "event_tags".into(),
            },
            Mismatch::MissingColumn {
                schema: label.clone(),
                field: "label".into(),
                table: "tags".into(),
                column: "label".into(),
            },
            Mismatch::UnwrittenRequiredColumn {
                schema: label.clone(),
                association: None,
                table: "tags".into(),
                column: "name".into(),
            },
        ]
    );
    // In the prefix, given to the call or named by every schema: nothing.
    assert_eq!(
        catalog::check(&db, &events_schema(None, None), p)
            .await
            .unwrap(),
        []
    );
    assert_eq!(
        catalog::check(&db, &events_schema(p, p), None)
            .await
            .unwrap(),
        []
    );
    // Event's own prefix wins over the current place, and its join table follows it; Label
    // has none, so it is checked against the blog's `tags`.
    assert_eq!(
        catalog::check(&db, &events_schema(p, None), None)
            .await
            .unwrap(),
        [
            Mismatch::MissingColumn {
                schema: label.clone(),
                field: "label".into(),
                table: "tags".into(),
                column: "label".into(),
            },
            Mismatch::UnwrittenRequiredColumn {
                schema: label.clone(),
                association: None,
                table: "tags".into(),
                column: "name".into(),
            },
        ]
    );
    // A schema's own prefix wins over the given one, which applies to the others: here the
    // given prefix is the test's own place, by name.
    let here = current_place(t).await;
    assert_eq!(
        catalog::check(&db, &events_schema(p, None), Some(&here))
            .await
            .unwrap(),
        [
            Mismatch::MissingColumn {
                schema: label.clone(),
                field: "label".into(),
                table: format!("{here}.tags"),
                column: "label".into(),
            },
            Mismatch::UnwrittenRequiredColumn {
                schema: label.clone(),
                association: None,
                table: format!("{here}.tags"),
                column: "name".into(),
            },
        ]
    );
    assert_eq!(
        catalog::check(&db, &events_schema(p, None), p)
            .await
            .unwrap(),
        []
    );

    // The blog in the prefix: its tables are not there, named with the prefix.
    let mismatches = catalog::check(&db, &common::blog(), p).await.unwrap();
    assert!(
        mismatches.contains(&Mismatch::MissingTable {
            schema: "Author".into(),
            table: format!("{prefix}.authors"),
        }),
        "{mismatches:#?}"
    );
    assert!(
        mismatches.contains(&Mismatch::MissingColumn {
            schema: "Tag".into(),
            field: "name".into(),
            table: format!("{prefix}.tags"),
            column: "name".into(),
        }),
        "{mismatches:#?}"
    );
    // And where it is: nothing.
    assert_eq!(
        catalog::check(&db, &common::blog(), None).await.unwrap(),
        []
    );
    db.close().await;
}

/// The name of the test's own place as a prefix: its PostgreSQL schema, its MySQL database,
/// SQLite's `main`.
async fn current_place(t: &TestDb) -> String {
    let sql = match t.kind {
        Kind::Sqlite => return "main".to_string(),
        Kind::Postgres => "SELECT current_schema() AS here",
        Kind::MySql => "SELECT DATABASE() AS here",
    };
    let here = t.column(sql).await;
    here[0].as_str().unwrap().to_string()
}

async fn a_prefix_that_does_not_exist_is_an_error_naming_it(t: &TestDb) {
    let missing = "bulkinup_no_such_prefix";
    let is_missing_prefix = |err: &Error| {
        let message = err.to_string();
        assert!(
            message.contains(&format!("prefix `{missing}` does not exist")),
            "{message}"
        );
        assert_eq!(err.exit_code(), 2);
    };
    let err = catalog::infer(&t.db, None, Some(missing))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidOption { name, .. } if name == "prefix"),
        "{err:?}"
    );
    is_missing_prefix(&err);

    let err = catalog::check(&t.db, &common::blog(), Some(missing))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidOption { name, .. } if name == "prefix"),
        "{err:?}"
    );
    is_missing_prefix(&err);

    // A schema's own prefix: a schema error naming the schema and its `prefix`.
    let err = catalog::check(&t.db, &events_schema(Some(missing), None), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Schema { schema: Some(s), key: Some(k), .. } if s == "Event" && k == "prefix"),
        "{err:?}"
    );
    is_missing_prefix(&err);

    let err = catalog::infer(&t.db, None, Some("")).await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidOption { name, .. } if name == "prefix"),
        "{err:?}"
    );
}
