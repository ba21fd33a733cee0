//! The `bulkinup` binary, run for real in temp dirs against SQLite, PostgreSQL and
//! MariaDB/MySQL: standard output, exit status, standard error, the rejects file — and the
//! state of the database after each run.

mod common;

use std::io::{BufWriter, Write};
use std::process::Stdio;

use common::{Dir, Kind, TestDb, blog_schema};
use serde_json::{Value as J, json};

/// The blog schema file, as a string argument.
fn schema() -> String {
    blog_schema().display().to_string()
}

/// `VERB --schema SCHEMA --root Author` followed by `rest`.
fn author_args<'a>(verb: &'a str, schema: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![verb, "--schema", schema, "--root", "Author"];
    args.extend_from_slice(rest);
    args
}

/// Items as NDJSON text.
fn ndjson(items: &[J]) -> String {
    items.iter().map(|i| format!("{i}\n")).collect()
}

/// The categories the blog posts refer to.
fn categories() -> String {
    json!([{"id": 1, "name": "Databases"}, {"id": 2, "name": "Travel"}]).to_string()
}

/// Two nested authors of the blog (the shape of `examples/blog/authors.ndjson`).
fn blog_v1() -> Vec<J> {
    vec![
        json!({"id": 1, "name": "Alice", "phone_number": "555-0001",
        "address": {"street": "1 Main St", "city": "Springfield"},
        "social_links": [{"label": "blog", "url": "https://alice.example"}],
        "profile": {"id": 1, "author_id": 1, "bio": "Databases"},
        "posts": [
            {"id": 1, "author_id": 1, "category_id": 1, "title": "Hello",
             "comments": [{"id": 1, "post_id": 1, "body": "First!"}, {"id": 2, "post_id": 1, "body": "Second"}],
             "tags": [{"id": 1, "name": "sql"}, {"id": 2, "name": "rust"}]},
            {"id": 2, "author_id": 1, "title": "Again", "tags": [{"id": 1, "name": "sql"}]}
        ]}),
        json!({"id": 2, "name": "Bob", "phone_number": "555-0002",
            "profile": {"id": 2, "author_id": 2, "bio": "Trains"},
            "posts": [{"id": 3, "author_id": 2, "category_id": 2, "title": "Rails",
                "comments": [{"id": 3, "post_id": 3, "body": "Choo"}],
                "tags": [{"id": 3, "name": "travel"}]}]}),
    ]
}

/// The same authors, changed.
fn blog_v2() -> Vec<J> {
    vec![
        json!({"id": 1, "name": "Alice Liddell", "phone_number": "555-0001",
            "address": {"street": "2 Main St", "city": "Springfield"},
            "posts": [{"id": 1, "author_id": 1, "category_id": 2, "title": "Hello again",
                "comments": [{"id": 4, "post_id": 1, "body": "Third"}],
                "tags": [{"id": 2, "name": "rustlang"}, {"id": 4, "name": "new"}]}]}),
        json!({"id": 2, "name": "Bob", "profile": {"id": 2, "author_id": 2, "bio": "Boats"}}),
    ]
}

const V1_SUMMARY: &str = r#"{"upserted":2,"skipped":0,"rows":{"authors":2,"comments":3,"posts":3,"posts_tags":4,"profiles":2,"tags":3}}"#;

/// A URL of a server that is not there: a run that exits 2 with it never connected.
const NOWHERE: &str = "postgres://nobody@127.0.0.1:1/nothing";

// ---------------------------------------------------------------------------------------
// On every database.

on_every_database!(blog:
    the_blog_upserted_then_reupserted_with_changes_updates_every_table,
    insert_of_an_existing_row_exits_1_names_the_table_and_writes_nothing,
    a_malformed_third_line_exits_3_names_line_3_and_writes_nothing,
    rejects_receive_the_invalid_items_with_their_lines_and_nested_errors,
    dry_run_reports_the_summary_and_leaves_the_tables_empty,
    a_json_array_input_is_read_element_by_element,
    standard_input_is_read_when_no_input_or_a_dash_is_given,
    schema_file_options_apply_with_flags_over_per_verb_over_shared,
    several_inputs_are_one_call_read_in_order,
    placeholders_recovery_and_concurrency_flags_reach_the_library,
    an_unknown_on_conflict_key_exits_2_and_writes_nothing,
    a_timeout_exits_1_and_writes_nothing,
    a_database_error_in_the_first_of_many_chunks_exits_1_and_writes_nothing,
    infer_foreign_keys_and_write_belongs_to_flags_reach_the_library,
    a_stream_of_100000_items_through_standard_input_completes_in_bounded_memory,
    schema_infer_prints_a_file_that_loads_the_blog_unchanged,
    schema_check_names_a_missing_column_and_exits_2,
    schema_infer_and_check_with_a_prefix_read_that_prefix_and_a_missing_one_exits_2,
    schema_check_reads_the_schema_file_prefix_and_the_flag_overrides_it,
);

mod demo {
    use super::*;

    on_every_database!(empty: the_demo_creates_the_blog_loads_it_and_can_run_twice);

    async fn the_demo_creates_the_blog_loads_it_and_can_run_twice(t: &TestDb) {
        for run in 1..=2 {
            let out = t.run(&["demo", "--database-url", &t.url]);
            out.assert_code(0);
            assert!(
                out.stdout.contains(
                    r#"upsert Author: {"upserted":3,"skipped":1,"rows":{"authors":3,"comments":3,"posts":4,"posts_tags":6,"profiles":2,"tags":4}}"#
                ),
                "run {run}: {}",
                out.stdout
            );
            assert!(
                out.stdout.contains("\nposts_tags (6 rows)\n"),
                "{}",
                out.stdout
            );
        }
        for (table, n) in [
            ("categories", 3),
            ("authors", 3),
            ("profiles", 2),
            ("posts", 4),
            ("comments", 3),
            ("tags", 4),
            ("posts_tags", 6),
        ] {
            assert_eq!(t.count(table).await, n, "{table}");
        }
        assert_eq!(
            t.column("SELECT address FROM authors WHERE id = 1").await,
            vec![json!({"street": "1 Main St", "city": "Springfield"})]
        );
    }
}

async fn the_blog_upserted_then_reupserted_with_changes_updates_every_table(t: &TestDb) {
    let s = schema();
    t.run_stdin(
        &["upsert", "--schema", &s, "--root", "Category"],
        &categories(),
    )
    .assert_code(0);
    let v1 = t.dir.write("v1.ndjson", &ndjson(&blog_v1()));
    let out = t.run(&author_args("upsert", &s, &[&v1]));
    out.assert_code(0);
    assert_eq!(out.stdout, format!("{V1_SUMMARY}\n"));
    assert_eq!(out.stderr, "", "nothing skipped, nothing on stderr");

    let v2 = t.dir.write("v2.ndjson", &ndjson(&blog_v2()));
    let out = t.run(&author_args("upsert", &s, &[&v2]));
    out.assert_code(0);
    assert_eq!(
        out.json(),
        json!({"upserted": 2, "skipped": 0, "rows": {"authors": 2, "comments": 1, "posts": 1,
            "posts_tags": 2, "profiles": 1, "tags": 2}})
    );

    let authors = t
        .rows("SELECT id, name, phone_number, address FROM authors ORDER BY id")
        .await;
    assert_eq!(authors[0]["name"], json!("Alice Liddell"));
    assert_eq!(
        authors[0]["address"],
        json!({"street": "2 Main St", "city": "Springfield"})
    );
    // A field absent from the attrs is replaced with NULL on conflict.
    assert_eq!(authors[1]["phone_number"], J::Null);
    assert_eq!(
        t.column("SELECT title FROM posts ORDER BY id").await,
        vec![json!("Hello again"), json!("Again"), json!("Rails")],
        "post 2 is absent from v2 and stays (write-only)"
    );
    assert_eq!(
        t.column("SELECT category_id FROM posts WHERE id = 1").await,
        vec![json!(2)]
    );
    assert_eq!(t.count("comments").await, 4);
    assert_eq!(
        t.column("SELECT name FROM tags ORDER BY id").await,
        vec![
            json!("sql"),
            json!("rustlang"),
            json!("travel"),
            json!("new")
        ]
    );
    assert_eq!(t.count("posts_tags").await, 5);
    assert_eq!(
        t.column("SELECT bio FROM profiles ORDER BY id").await,
        vec![json!("Databases"), json!("Boats")]
    );
}

async fn insert_of_an_existing_row_exits_1_names_the_table_and_writes_nothing(t: &TestDb) {
    let s = schema();
    let alice =
        json!({"id": 1, "name": "Alice", "posts": [{"id": 10, "author_id": 1, "title": "Hi"}]});
    let bob = json!({"id": 2, "name": "Bob", "posts": [{"id": 20, "author_id": 2, "title": "Yo"}]});
    let first = t
        .dir
        .write("first.ndjson", &ndjson(std::slice::from_ref(&alice)));
    let out = t.run(&author_args("insert", &s, &[&first]));
    out.assert_code(0);
    assert_eq!(
        out.stdout,
        "{\"inserted\":1,\"skipped\":0,\"rows\":{\"authors\":1,\"posts\":1}}\n"
    );

    // Bob is new and comes first, in a chunk of his own: the whole call is rolled back all
    // the same when Alice's row is refused.
    let again = t.dir.write("again.ndjson", &ndjson(&[bob, alice]));
    let out = t.run(&author_args("insert", &s, &["--chunk-size", "1", &again]));
    out.assert_code(1).assert_stderr(&[
        "database error writing table `authors`",
        "a row with that key already exists",
        "nothing was written",
    ]);
    assert_eq!(out.stdout, "");
    assert_eq!(t.column("SELECT id FROM authors").await, vec![json!(1)]);
    assert_eq!(t.column("SELECT id FROM posts").await, vec![json!(10)]);
}

async fn a_malformed_third_line_exits_3_names_line_3_and_writes_nothing(t: &TestDb) {
    let s = schema();
    let text = "{\"id\": 1, \"name\": \"Alice\"}\n\
                {\"id\": 2, \"name\": \"Bob\"}\n\
                {\"id\": 3, \"name\": }\n\
                {\"id\": 4, \"name\": \"Dana\"}\n";
    let input = t.dir.write("authors.ndjson", text);
    let out = t.run(&author_args("upsert", &s, &["--chunk-size", "1", &input]));
    out.assert_code(3).assert_stderr(&[
        "malformed input in `authors.ndjson` line 3",
        "expected value",
        "nothing was written",
    ]);
    assert_eq!(out.stdout, "");
    assert_eq!(t.count("authors").await, 0);
}

async fn rejects_receive_the_invalid_items_with_their_lines_and_nested_errors(t: &TestDb) {
    let s = schema();
    let items = [
        json!({"id": 1, "name": "Alice", "posts": [{"id": 1, "author_id": 1, "title": "Hi"}]}),
        json!({"id": 2, "name": "Bob", "posts": [
            {"id": 2, "author_id": 2, "title": ""}, {"id": 3, "author_id": 2, "title": "Ok"}]}),
        json!({"id": 3, "phone_number": "12"}),
    ];
    let text = format!("{}\n{}\n\n{}\n", items[0], items[1], items[2]);
    let input = t.dir.write("in.ndjson", &text);
    let out = t.run(&author_args(
        "upsert",
        &s,
        &["--rejects", "rejects.ndjson", &input],
    ));
    out.assert_code(0);
    assert_eq!(
        out.stdout,
        "{\"upserted\":1,\"skipped\":2,\"rows\":{\"authors\":1,\"posts\":1}}\n"
    );
    assert!(
        out.stderr
            .starts_with("upsert Author: skipped 2 of 3 items as invalid; primary keys: [2,3]"),
        "{:?}",
        out.stderr
    );
    out.assert_stderr(&["[2,3]"]);

    let rejects: Vec<J> = t
        .dir
        .read("rejects.ndjson")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a rejects line is JSON"))
        .collect();
    assert_eq!(
        rejects,
        vec![
            json!({"file": "in.ndjson", "line": 2, "item": items[1],
                "errors": {"posts": [{"title": ["can't be blank"]}, {}]}}),
            json!({"file": "in.ndjson", "line": 4, "item": items[2],
                "errors": {"name": ["can't be blank"], "phone_number": ["has invalid format"]}}),
        ]
    );
    assert_eq!(t.column("SELECT id FROM authors").await, vec![json!(1)]);
    assert_eq!(t.column("SELECT id FROM posts").await, vec![json!(1)]);
}

async fn dry_run_reports_the_summary_and_leaves_the_tables_empty(t: &TestDb) {
    let s = schema();
    let input = t.dir.write("v1.ndjson", &ndjson(&blog_v1()));
    let out = t.run(&author_args("upsert", &s, &["--dry-run", &input]));
    out.assert_code(0);
    let expected = V1_SUMMARY.replace("}}", "},\"dry_run\":true}");
    assert_eq!(out.stdout, format!("{expected}\n"));
    for table in [
        "authors",
        "posts",
        "comments",
        "tags",
        "posts_tags",
        "profiles",
    ] {
        assert_eq!(t.count(table).await, 0, "{table}");
    }
}

async fn a_json_array_input_is_read_element_by_element(t: &TestDb) {
    let s = schema();
    let text = "[\n  {\"id\": 1, \"name\": \"Alice\"},\n  {\"id\": 2},\n  {\"id\": 3, \"name\": \"Chen\",\n   \"posts\": [{\"id\": 1, \"author_id\": 3, \"title\": \"x, ] y\"}]}\n]\n";
    let input = t.dir.write("authors.json", text);
    let out = t.run(&author_args(
        "upsert",
        &s,
        &["--rejects", "rejects.ndjson", &input],
    ));
    out.assert_code(0);
    assert_eq!(
        out.json(),
        json!({"upserted": 2, "skipped": 1, "rows": {"authors": 2, "posts": 1}})
    );
    assert_eq!(
        serde_json::from_str::<J>(t.dir.read("rejects.ndjson").trim()).expect("JSON"),
        json!({"file": "authors.json", "index": 2, "item": {"id": 2},
            "errors": {"name": ["can't be blank"]}})
    );
    assert_eq!(
        t.column("SELECT id FROM authors ORDER BY id").await,
        vec![json!(1), json!(3)]
    );
    assert_eq!(
        t.column("SELECT title FROM posts").await,
        vec![json!("x, ] y")]
    );
}

async fn standard_input_is_read_when_no_input_or_a_dash_is_given(t: &TestDb) {
    let s = schema();
    let text = "{\"id\": 1, \"name\": \"Alice\"}\n{\"id\": 2}\n";
    let out = t.run_stdin(&author_args("upsert", &s, &["--rejects", "r.ndjson"]), text);
    out.assert_code(0);
    assert_eq!(
        out.json(),
        json!({"upserted": 1, "skipped": 1, "rows": {"authors": 1}})
    );
    assert_eq!(
        serde_json::from_str::<J>(t.dir.read("r.ndjson").trim()).expect("JSON"),
        json!({"file": "-", "line": 2, "item": {"id": 2}, "errors": {"name": ["can't be blank"]}})
    );

    let out = t.run_stdin(
        &author_args("upsert", &s, &["-"]),
        "[{\"id\": 2, \"name\": \"Bob\"}]",
    );
    out.assert_code(0);
    assert_eq!(
        t.column("SELECT name FROM authors ORDER BY id").await,
        vec![json!("Alice"), json!("Bob")]
    );
}

async fn schema_file_options_apply_with_flags_over_per_verb_over_shared(t: &TestDb) {
    let text = std::fs::read_to_string(blog_schema()).expect("blog schema");
    let options = r#"
[options]
chunk_size = 1
replace_all_except = ["title"]
on_conflict = { Author = "nothing" }

[options.upsert]
on_conflict = { Author = "replace:name" }

[options.insert]
chunk_size = 2
"#;
    let s = t.dir.write("blog.toml", &format!("{text}{options}"));
    let author = |name: &str, phone: &str, title: &str| {
        ndjson(&[json!({"id": 1, "name": name, "phone_number": phone,
            "posts": [{"id": 1, "author_id": 1, "title": title}]})])
    };
    t.run_stdin(
        &author_args("upsert", &s, &[]),
        &author("A", "555-0001", "T"),
    )
    .assert_code(0);

    // Per-verb `on_conflict` (Author: replace:name) over the shared one (Author: nothing);
    // the shared `replace_all_except` keeps the post's title.
    t.run_stdin(
        &author_args("upsert", &s, &[]),
        &author("B", "555-9999", "U"),
    )
    .assert_code(0);
    assert_eq!(
        t.rows("SELECT name, phone_number FROM authors").await[0],
        json!({"name": "B", "phone_number": "555-0001"})
            .as_object()
            .cloned()
            .unwrap_or_default()
    );
    assert_eq!(t.column("SELECT title FROM posts").await, vec![json!("T")]);

    // Flags over both.
    t.run_stdin(
        &author_args(
            "upsert",
            &s,
            &[
                "--on-conflict",
                "Author=nothing",
                "--replace-all-except",
                "inserted_at",
            ],
        ),
        &author("C", "555-9999", "V"),
    )
    .assert_code(0);
    assert_eq!(t.column("SELECT name FROM authors").await, vec![json!("B")]);
    assert_eq!(t.column("SELECT title FROM posts").await, vec![json!("V")]);

    // The shared upsert-only `replace_all_except` does not apply to an insert.
    let out = t.run_stdin(
        &author_args("insert", &s, &[]),
        &ndjson(&[json!({"id": 2, "name": "Bob"})]),
    );
    out.assert_code(0);
    assert_eq!(t.count("authors").await, 2);
}

async fn several_inputs_are_one_call_read_in_order(t: &TestDb) {
    let s = schema();
    let a = t.dir.write(
        "a.ndjson",
        "{\"id\": 1, \"name\": \"Alice\"}\n{\"id\": 2, \"name\": \"Bob\"}\n",
    );
    let broken = t
        .dir
        .write("broken.ndjson", "{\"id\": 3, \"name\": \"Chen\"}\n{oops}\n");
    let out = t.run(&author_args("upsert", &s, &[&a, &broken]));
    out.assert_code(3)
        .assert_stderr(&["`broken.ndjson` line 2", "nothing was written"]);
    assert_eq!(t.count("authors").await, 0);

    let b = t
        .dir
        .write("b.ndjson", "[{\"id\": 1, \"name\": \"Alicia\"}]");
    let out = t.run(&author_args("upsert", &s, &[&a, &b]));
    out.assert_code(0);
    assert_eq!(
        out.json(),
        json!({"upserted": 3, "skipped": 0, "rows": {"authors": 2}})
    );
    assert_eq!(
        t.column("SELECT name FROM authors ORDER BY id").await,
        vec![json!("Alicia"), json!("Bob")],
        "the later input wins"
    );
}

async fn placeholders_recovery_and_concurrency_flags_reach_the_library(t: &TestDb) {
    let s = schema();
    let items = ndjson(&[
        json!({"id": 1, "name": "A", "phone_number": "bad",
            "posts": [{"id": 1, "author_id": 1, "title": "T"}]}),
        json!({"id": 2, "name": "B"}),
    ]);
    let out = t.run_stdin(
        &author_args(
            "upsert",
            &s,
            &[
                "--placeholder",
                "Author.name=\"Anon\"",
                "--placeholder",
                "Post.inserted_at=now()",
                "--recover",
                "Author.phone_number=\"000-0000\"",
                "--max-concurrency",
                "2",
                "--chunk-size",
                "1",
                "--timeout",
                "60",
            ],
        ),
        &items,
    );
    out.assert_code(0);
    let summary = out.json();
    assert_eq!(
        (
            &summary["upserted"],
            &summary["skipped"],
            &summary["recovered"]
        ),
        (&json!(2), &json!(0), &json!(1))
    );
    assert_eq!(
        t.rows("SELECT name, phone_number FROM authors ORDER BY id")
            .await
            .into_iter()
            .map(J::Object)
            .collect::<Vec<_>>(),
        vec![
            json!({"name": "Anon", "phone_number": "000-0000"}),
            json!({"name": "Anon", "phone_number": null}),
        ]
    );
    let stamped = t.column("SELECT inserted_at FROM posts").await;
    assert!(
        stamped[0].is_string(),
        "now() stamped the post: {stamped:?}"
    );
}

async fn an_unknown_on_conflict_key_exits_2_and_writes_nothing(t: &TestDb) {
    let s = schema();
    let out = t.run_stdin(
        &author_args("upsert", &s, &["--on-conflict", "Writer=nothing"]),
        "{\"id\": 1, \"name\": \"Alice\"}\n",
    );
    out.assert_code(2).assert_stderr(&[
        "invalid option `--on-conflict`",
        "unknown schema or join table `Writer`",
        "Author, Category",
        "posts_tags",
    ]);
    assert_eq!(t.count("authors").await, 0);
}

async fn a_timeout_exits_1_and_writes_nothing(t: &TestDb) {
    let items: Vec<J> = (1..=5000)
        .map(|i| json!({"id": i, "name": format!("author {i}")}))
        .collect();
    let out = t.run_stdin(
        &[
            "upsert",
            "--schema",
            &schema(),
            "--root",
            "Author",
            "--chunk-size",
            "10",
            "--timeout",
            "0.001",
        ],
        &ndjson(&items),
    );
    out.assert_code(1).assert_stderr(&["nothing was written"]);
    // MariaDB may report its own statement limit (`max_statement_time`) firing instead.
    assert!(
        out.stderr.contains("timed out after 0.001 s")
            || out.stderr.contains("max_statement_time exceeded"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "");
    assert_eq!(t.count("authors").await, 0);
}

async fn a_database_error_in_the_first_of_many_chunks_exits_1_and_writes_nothing(t: &TestDb) {
    let s = schema();
    t.run_stdin(
        &author_args("insert", &s, &[]),
        "{\"id\": 1, \"name\": \"Alice\"}\n",
    )
    .assert_code(0);
    // The duplicate is in the first chunk; hundreds of chunks follow it.
    let mut items = vec![json!({"id": 1, "name": "Alice again"})];
    items.extend((100..5000).map(|i| json!({"id": i, "name": format!("author {i}")})));
    let out = t.run_stdin(
        &author_args("insert", &s, &["--chunk-size", "10"]),
        &ndjson(&items),
    );
    out.assert_code(1)
        .assert_stderr(&["writing table `authors`", "nothing was written"]);
    assert_eq!(t.count("authors").await, 1);
}

async fn infer_foreign_keys_and_write_belongs_to_flags_reach_the_library(t: &TestDb) {
    let s = schema();
    // No author_id on the post, no post_id on the comment; the category is nested.
    let item = ndjson(&[json!({"id": 1, "name": "Alice", "posts": [
        {"id": 1, "title": "Hi", "category": {"id": 5, "name": "Nested"},
         "comments": [{"id": 1, "body": "First"}]}]})]);
    let out = t.run_stdin(&author_args("upsert", &s, &[]), &item);
    out.assert_code(0);
    assert_eq!(out.json()["skipped"], json!(1), "author_id is required");

    let out = t.run_stdin(
        &author_args(
            "upsert",
            &s,
            &["--infer-foreign-keys", "--write-belongs-to"],
        ),
        &item,
    );
    out.assert_code(0);
    assert_eq!(out.json()["skipped"], json!(0));
    assert_eq!(
        t.rows("SELECT author_id, category_id FROM posts")
            .await
            .into_iter()
            .map(J::Object)
            .collect::<Vec<_>>(),
        vec![json!({"author_id": 1, "category_id": 5})]
    );
    assert_eq!(
        t.column("SELECT post_id FROM comments").await,
        vec![json!(1)]
    );
    assert_eq!(
        t.column("SELECT name FROM categories").await,
        vec![json!("Nested")]
    );
}

async fn a_stream_of_100000_items_through_standard_input_completes_in_bounded_memory(t: &TestDb) {
    const ITEMS: u64 = 100_000;
    const PADDING: usize = 900; // ignored by the changeset; makes the input ~100 MB
    const MEMORY_LIMIT_KB: u64 = 64 * 1024;
    let s = schema();
    let mut cmd = t.command(&author_args("upsert", &s, &["--timeout", "600"]));
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the binary starts");
    let pid = child.id();
    let stdin = child.stdin.take().expect("stdin");
    let feeder = std::thread::spawn(move || {
        let padding = "x".repeat(PADDING);
        let mut out = BufWriter::new(stdin);
        let mut bytes = 0usize;
        for i in 1..=ITEMS {
            let line = format!(
                "{{\"id\":{i},\"name\":\"author {i}\",\"posts\":[{{\"id\":{i},\"author_id\":{i},\"title\":\"post {i}\"}}],\"padding\":\"{padding}\"}}\n"
            );
            bytes += line.len();
            out.write_all(line.as_bytes())
                .expect("the child reads its input");
        }
        out.flush().expect("flush");
        bytes
    });
    // The peak resident memory of the child (Linux), sampled until it exits.
    let watcher = std::thread::spawn(move || {
        let mut peak_kb = 0u64;
        while let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            else {
                break; // exited
            };
            peak_kb = peak_kb.max(kb);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        peak_kb
    });
    let output = common::wait_with_deadline(child, common::RUN_LIMIT);
    let bytes = feeder.join().expect("feeder");
    let peak_kb = watcher.join().expect("watcher");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout,
        "{\"upserted\":100000,\"skipped\":0,\"rows\":{\"authors\":100000,\"posts\":100000}}\n"
    );
    assert_eq!(t.count("authors").await, ITEMS as i64);
    assert_eq!(t.count("posts").await, ITEMS as i64);
    if cfg!(target_os = "linux") {
        assert!(peak_kb > 0, "the child's memory was sampled");
        assert!(
            peak_kb < MEMORY_LIMIT_KB && (peak_kb as usize) * 1024 < bytes,
            "peak memory {peak_kb} kB for {bytes} bytes of input"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Checked before connecting: these runs point at a server that is not there, so exit
// status 2 (not 1) shows that nothing was contacted.

#[test]
fn chunk_size_0_exits_2_before_connecting() {
    let dir = Dir::new();
    let out = dir.run(&[
        "upsert",
        "--schema",
        &schema(),
        "--root",
        "Author",
        "--database-url",
        NOWHERE,
        "--chunk-size",
        "0",
    ]);
    out.assert_code(2)
        .assert_stderr(&["invalid option `--chunk-size`: must be at least 1"]);
    assert_eq!(out.stdout, "");

    // And no SQLite file is created either.
    let out = dir.run(&[
        "upsert",
        "--schema",
        &schema(),
        "--root",
        "Author",
        "--database-url",
        "sqlite://untouched.db",
        "--chunk-size",
        "0",
    ]);
    out.assert_code(2);
    assert!(!dir.path().join("untouched.db").exists());
}

#[test]
fn option_values_are_checked_naming_the_flag_and_the_valid_choices() {
    let dir = Dir::new();
    let s = schema();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--on-conflict", "Tag=update"],
            &[
                "`--on-conflict`",
                "unknown action `update`",
                "replace_all_except:F1,F2",
            ],
        ),
        (&["--on-conflict", "Tag"], &["KEY=ACTION"]),
        (&["--max-concurrency", "0"], &["`--max-concurrency`"]),
        (&["--timeout", "-1"], &["`--timeout`", "infinity"]),
        (
            &["--placeholder", "Author.name=Anon"],
            &["`--placeholder`", "not a JSON value"],
        ),
        (
            &["--placeholder", "Author.nickname=\"x\""],
            &["schema `Author` has no field `nickname`"],
        ),
        (
            &["--recover", "Author.posts=[]"],
            &["`Author.posts` is an association or embed"],
        ),
        (
            &["--conflict-target", "Nope=id"],
            &["`--conflict-target`", "unknown schema or join table `Nope`"],
        ),
        (
            &["--changeset", "nope"],
            &[
                "`--changeset`",
                "no changeset named `nope`",
                "upsert_changeset",
            ],
        ),
        (
            &["--root", "Writer"],
            &["`--root`", "unknown schema `Writer`"],
        ),
        (
            &["--database-url", "oracle://x"],
            &["`--database-url`", "sqlite://PATH"],
        ),
        (
            &["missing.ndjson"],
            &["input file `missing.ndjson` does not exist"],
        ),
        (&["--quiet", "--verbose"], &["cannot be used with"]),
    ];
    for (extra, fragments) in cases {
        let mut args = vec!["upsert", "--schema", &s];
        if !extra.contains(&"--root") {
            args.extend(["--root", "Author"]);
        }
        args.extend_from_slice(extra);
        if !args.contains(&"--database-url") {
            args.extend(["--database-url", NOWHERE]);
        }
        let out = dir.run(&args);
        assert_eq!(out.code, 2, "{extra:?}: {out:#?}");
        out.assert_stderr(fragments);
    }
}

#[test]
fn an_upsert_only_option_given_to_insert_exits_2() {
    let dir = Dir::new();
    let out = dir.run(&[
        "insert",
        "--schema",
        &schema(),
        "--root",
        "Author",
        "--database-url",
        NOWHERE,
        "--replace-all-except",
        "name",
    ]);
    out.assert_code(2)
        .assert_stderr(&["`--replace-all-except`", "only applies to an upsert"]);
}

#[test]
fn schema_file_option_errors_give_the_line_and_column_and_a_suggestion() {
    let dir = Dir::new();
    let text = std::fs::read_to_string(blog_schema()).expect("blog schema");
    let full = format!(
        "{text}\n[options.upsert]\nchunk_size = 5\non_conflict = {{ Tga = \"nothing\" }}\nchunk_sise = 5\n"
    );
    let line_of = |needle: &str| full.lines().position(|l| l.contains(needle)).map(|i| i + 1);
    let (typo, tga) = (line_of("chunk_sise").unwrap(), line_of("Tga").unwrap());
    let s = dir.write("typo.toml", &full);
    let out = dir.run(&[
        "upsert",
        "--schema",
        &s,
        "--root",
        "Author",
        "--database-url",
        NOWHERE,
    ]);
    assert_eq!(out.code, 2, "{out:#?}");
    // Either error may come first; each names its key with its own position.
    let e = &out.stderr;
    let key_at = |key: &str, l: usize, c: usize| {
        e.contains(key) && e.contains(&format!("typo.toml:{l}:{c}"))
    };
    assert!(
        key_at("options.upsert.chunk_sise", typo, 1) && e.contains("did you mean `chunk_size`")
            || key_at("options.upsert.on_conflict.Tga", tga, 17)
                && e.contains("did you mean `Tag`"),
        "{e}"
    );
}

#[test]
fn schema_file_option_errors_name_the_key_and_its_place() {
    let dir = Dir::new();
    let text = std::fs::read_to_string(blog_schema()).expect("blog schema");
    let cases = [
        (
            "[options.insert]\nreplace_all_except = [\"title\"]\n",
            vec![
                "`options.insert.replace_all_except`",
                "only applies to an upsert",
            ],
        ),
        (
            "[options.upsert]\nchunk_sise = 5\n",
            vec![
                "`options.upsert.chunk_sise`",
                "unknown key in `[options.upsert]`",
                "chunk_size",
            ],
        ),
        (
            "[options]\non_conflict = { Nope = \"nothing\" }\n",
            vec!["`options.on_conflict.Nope`", "unknown schema or join table"],
        ),
        (
            "[options]\nchunk_size = \"many\"\n",
            vec!["`options.chunk_size`", "expected a whole number"],
        ),
        (
            "[options]\nplaceholders = { Author = { nickname = 1 } }\n",
            vec![
                "`options.placeholders.Author.nickname`",
                "no field `nickname`",
            ],
        ),
    ];
    for (options, fragments) in cases {
        let s = dir.write("bad.toml", &format!("{text}\n{options}"));
        for verb in ["upsert", "insert"] {
            let out = dir.run(&[
                verb,
                "--schema",
                &s,
                "--root",
                "Author",
                "--database-url",
                NOWHERE,
            ]);
            assert_eq!(out.code, 2, "{options}: {out:#?}");
            out.assert_stderr(&fragments);
            out.assert_stderr(&["bad.toml"]);
        }
    }
    let out = dir.run(&["upsert", "--schema", "nope.toml", "--root", "Author"]);
    out.assert_code(2)
        .assert_stderr(&["cannot read the schema file", "nope.toml"]);
}

// ---------------------------------------------------------------------------------------
// Output details (SQLite).

#[tokio::test]
async fn verbose_prints_each_skipped_item_and_quiet_prints_nothing() {
    let Some(t) = TestDb::blog(Kind::Sqlite).await else {
        return;
    };
    let s = schema();
    let input = t.dir.write(
        "in.ndjson",
        "{\"id\": 1, \"name\": \"Alice\"}\n{\"id\": 2}\n",
    );
    let out = t.run(&author_args("upsert", &s, &["-v", &input]));
    out.assert_code(0).assert_stderr(&[
        "skipped in.ndjson:2 (Author 2): {\"name\":[\"can't be blank\"]}",
        "upsert Author: skipped 1 of 2 items",
    ]);
    let out = t.run(&author_args("upsert", &s, &["--quiet", &input]));
    out.assert_code(0);
    assert_eq!(out.stderr, "");
    assert_eq!(
        out.stdout,
        "{\"upserted\":1,\"skipped\":1,\"rows\":{\"authors\":1}}\n"
    );
    t.cleanup().await;
}

#[tokio::test]
async fn a_closed_standard_output_exits_0_after_writing() {
    let Some(t) = TestDb::blog(Kind::Sqlite).await else {
        return;
    };
    let mut cmd = t.command(&["upsert", "--schema", &schema(), "--root", "Author"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the binary starts");
    drop(child.stdout.take()); // the reader is gone before anything is printed
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"{\"id\": 1, \"name\": \"Alice\"}\n")
        .expect("write");
    drop(stdin);
    let output = common::wait_with_deadline(child, common::RUN_LIMIT);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(t.count("authors").await, 1);
    t.cleanup().await;
}

#[test]
fn the_default_database_is_bulkinup_db_in_the_working_directory() {
    let dir = Dir::new();
    dir.run(&["demo"]).assert_code(0);
    assert!(dir.path().join("bulkinup.db").is_file());
    let out = dir.run_with(
        dir.command(&["upsert", "--schema", &schema(), "--root", "Category"]),
        Some(b"{\"id\": 9, \"name\": \"Misc\"}\n"),
    );
    out.assert_code(0);
    assert_eq!(
        out.stdout,
        "{\"upserted\":1,\"skipped\":0,\"rows\":{\"categories\":1}}\n"
    );
}

async fn schema_infer_prints_a_file_that_loads_the_blog_unchanged(t: &TestDb) {
    let example = |file: &str| blog_schema().with_file_name(file).display().to_string();
    let (categories, authors) = (example("categories.ndjson"), example("authors.ndjson"));
    let load = |schema: &str| -> Vec<String> {
        [("Category", &categories), ("Author", &authors)]
            .into_iter()
            .map(|(root, file)| {
                let out = t.run(&["upsert", "--schema", schema, "--root", root, file.as_str()]);
                out.assert_code(0);
                out.stdout
            })
            .collect()
    };
    // The example as the hand-written schema loads it.
    let by_hand = load(&schema());
    let out = t.run(&["schema", "infer"]);
    out.assert_code(0);
    assert!(out.stdout.contains("[schemas.Author]"), "{}", out.stdout);
    let inferred = t.dir.write("inferred.toml", &out.stdout);
    t.empty_blog_tables().await;
    // The printed file, unchanged, writes the same rows and skips the same item.
    assert_eq!(load(&inferred), by_hand);
    assert_eq!(t.count("comments").await, 3);
    assert_eq!(t.count("posts_tags").await, 6);
    assert_eq!(
        t.column("SELECT social_links FROM authors WHERE id = 1")
            .await,
        [serde_json::json!([
            {"label": "blog", "url": "https://alice.example"},
            {"label": "mastodon", "url": "https://social.example/@alice"}
        ])]
    );
}

/// The events tables (`common::events_ddl`) in a second prefix beside the test's own place:
/// the prefix, a connection on which it exists, and that connection's URL.
async fn events_in_a_second_prefix(t: &TestDb) -> (String, bulkinup::Db, String) {
    let (prefix, db, url) = t.second_prefix_with_url().await;
    db.execute_script(&common::events_ddl(t.kind, &prefix))
        .await
        .unwrap();
    (prefix, db, url)
}

async fn schema_infer_and_check_with_a_prefix_read_that_prefix_and_a_missing_one_exits_2(
    t: &TestDb,
) {
    // The blog tables are in the test's own place, the events tables in a second prefix.
    let (prefix, db, url) = events_in_a_second_prefix(t).await;
    let run = |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--database-url", url.as_str()]);
        t.dir.run(&args)
    };
    let out = run(&["schema", "infer", "--prefix", &prefix]);
    out.assert_code(0);
    assert!(
        out.stdout.contains(&format!(
            "[schemas.Event]\nsource = \"events\"\nprefix = \"{prefix}\"\n"
        )),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("[schemas.Author]"), "{}", out.stdout);
    let inferred = t.dir.write("events.toml", &out.stdout);
    // The printed file names its prefix: it checks clean with or without `--prefix`.
    run(&["schema", "check", "--schema", &inferred]).assert_code(0);
    run(&[
        "schema", "check", "--schema", &inferred, "--prefix", &prefix,
    ])
    .assert_code(0);

    // The blog is where it is, not in the prefix.
    let s = schema();
    run(&["schema", "check", "--schema", &s]).assert_code(0);
    let out = run(&["schema", "check", "--schema", &s, "--prefix", &prefix]);
    out.assert_code(2).assert_stderr(&["mismatch"]);
    assert!(
        out.stdout.contains(&format!(
            "schema `Author`: table `{prefix}.authors` does not exist"
        )),
        "{}",
        out.stdout
    );

    for args in [
        vec!["schema", "infer", "--prefix", "bulkinup_no_such_prefix"],
        vec![
            "schema",
            "check",
            "--schema",
            &s,
            "--prefix",
            "bulkinup_no_such_prefix",
        ],
    ] {
        let out = run(&args);
        out.assert_code(2)
            .assert_stderr(&["prefix `bulkinup_no_such_prefix` does not exist"]);
        assert_eq!(out.stdout, "", "{args:?}");
    }
    db.close().await;
}

/// A schema file of the events table (`common::events_ddl`) whose `[options] prefix` is
/// `prefix`, the schema having none of its own.
fn events_with_file_prefix(prefix: &str) -> String {
    format!(
        "[options]\nprefix = \"{prefix}\"\n\n[schemas.Event]\nsource = \"events\"\n\
         fields = {{ id = \"integer\", name = \"string\" }}\n\
         changesets.changeset = {{ cast = [\"id\", \"name\"], required = [\"name\"] }}\n"
    )
}

async fn schema_check_reads_the_schema_file_prefix_and_the_flag_overrides_it(t: &TestDb) {
    // The events tables are in a second prefix only, not in the test's own place.
    let (prefix, db, url) = events_in_a_second_prefix(t).await;
    let run = |args: &[&str]| t.run_at(&url, args);
    let file = t
        .dir
        .write("events.toml", &events_with_file_prefix(&prefix));
    let out = run(&["schema", "check", "--schema", &file]);
    out.assert_code(0);
    assert_eq!(out.stdout, "");

    // `--prefix` overrides the file's: the test's own place has no events table.
    let own = t.default_prefix();
    let out = run(&["schema", "check", "--schema", &file, "--prefix", own]);
    out.assert_code(2).assert_stderr(&["1 mismatch(es)"]);
    assert_eq!(
        out.stdout,
        format!(
            "schema `Event`: table `{own}.events` does not exist (create it, or fix the \
             schema's `source`)\n"
        )
    );

    // A file prefix that does not exist is named by its key and position, the flag by itself.
    let missing = t.dir.write(
        "missing.toml",
        &events_with_file_prefix("bulkinup_no_such_prefix"),
    );
    let out = run(&["schema", "check", "--schema", &missing]);
    out.assert_code(2).assert_stderr(&[
        "invalid option `options.prefix`: prefix `bulkinup_no_such_prefix` does not exist",
        "(at missing.toml:2:1 in the schema file)",
    ]);
    assert_eq!(out.stdout, "");
    let out = run(&[
        "schema",
        "check",
        "--schema",
        &file,
        "--prefix",
        "bulkinup_no_such",
    ]);
    out.assert_code(2)
        .assert_stderr(&["invalid option `--prefix`: prefix `bulkinup_no_such` does not exist"]);
    run(&["schema", "check", "--schema", &missing, "--prefix", &prefix]).assert_code(0);
    db.close().await;
}

async fn schema_check_names_a_missing_column_and_exits_2(t: &TestDb) {
    let s = schema();
    t.run(&["schema", "check", "--schema", &s]).assert_code(0);
    t.db.execute_script("ALTER TABLE comments DROP COLUMN body")
        .await
        .unwrap();
    let out = t.run(&["schema", "check", "--schema", &s]);
    out.assert_code(2).assert_stderr(&["mismatch"]);
    assert!(
        out.stdout.contains("comments") && out.stdout.contains("body"),
        "{}",
        out.stdout
    );
}
