//! `--max-skipped N|N%` (and the schema file's `max_skipped`): more invalid items exit 4 with
//! nothing written; the skipped-items line hints at `--infer-foreign-keys` when most skipped
//! items lack a child's foreign key; a rejects file that cannot be completed after the commit
//! exits 5 (not 3), and says what was written. On SQLite, PostgreSQL and MariaDB/MySQL.

mod common;

use common::{Dir, TestDb, blog_schema, upsert_authors as upsert};
use serde_json::{Value as J, json};

on_every_database!(blog:
    max_skipped_exits_4_names_the_counts_and_writes_nothing,
    max_skipped_of_the_schema_file_applies_under_the_flag,
    with_max_concurrency_exit_4_keeps_the_committed_chunks_and_says_so,
    the_skipped_line_hints_at_infer_foreign_keys_only_for_missing_foreign_keys,
    a_rejects_file_failing_after_the_commit_exits_5_and_the_data_stays,
    a_rejects_file_failing_in_a_dry_run_exits_5_and_does_not_say_written,
);

fn schema() -> String {
    blog_schema().display().to_string()
}

/// `valid` valid authors (ids from 1), then `invalid` authors without a name, as NDJSON.
fn authors(valid: u64, invalid: u64) -> String {
    let named = (1..=valid).map(|i| json!({"id": i, "name": format!("a{i}")}));
    let unnamed = (valid + 1..=valid + invalid).map(|i| json!({"id": i}));
    named.chain(unnamed).map(|i: J| format!("{i}\n")).collect()
}

async fn max_skipped_exits_4_names_the_counts_and_writes_nothing(t: &TestDb) {
    let s = schema();
    let input = t.dir.write("in.ndjson", &authors(4, 2));
    let out = t.run(&upsert(
        &s,
        &["--chunk-size", "1", "--max-skipped", "1", &input],
    ));
    out.assert_code(4).assert_stderr(&[
        "too many invalid items: 2 of 6 skipped (--max-skipped 1)",
        "rolled back",
    ]);
    assert_eq!(out.stdout, "");
    assert_eq!(t.count("authors").await, 0);

    // A dry run checks it the same way.
    let out = t.run(&upsert(&s, &["--dry-run", "--max-skipped", "1", &input]));
    out.assert_code(4)
        .assert_stderr(&["too many invalid items: 2 of 6 skipped (--max-skipped 1)"]);

    // At the limit, the call succeeds.
    let out = t.run(&upsert(&s, &["--max-skipped", "2", &input]));
    out.assert_code(0);
    assert_eq!(t.count("authors").await, 4);

    // A value that is neither a count nor a percentage: exit 2, naming the flag.
    let out = t.run(&upsert(&s, &["--max-skipped", "ten", &input]));
    out.assert_code(2)
        .assert_stderr(&["`--max-skipped`", "percentage"]);
}

async fn max_skipped_of_the_schema_file_applies_under_the_flag(t: &TestDb) {
    let text = std::fs::read_to_string(blog_schema()).expect("the blog schema");
    let s = t.dir.write(
        "schema.toml",
        &format!("{text}\n[options]\nmax_skipped = \"25%\"\n"),
    );
    // 2 of 6 invalid: 33 % > 25 %.
    let input = t.dir.write("in.ndjson", &authors(4, 2));
    let out = t.run(&upsert(&s, &[&input]));
    out.assert_code(4)
        .assert_stderr(&["too many invalid items: 2 of 6 skipped (--max-skipped 25%)"]);
    assert_eq!(t.count("authors").await, 0);

    // The flag wins over the file.
    let out = t.run(&upsert(&s, &["--max-skipped", "50%", &input]));
    out.assert_code(0);
    assert_eq!(out.json()["skipped"], json!(2));
    assert_eq!(t.count("authors").await, 4);
}

async fn with_max_concurrency_exit_4_keeps_the_committed_chunks_and_says_so(t: &TestDb) {
    let s = schema();
    let input = t.dir.write("in.ndjson", &authors(4, 2));
    let args = [
        "--chunk-size",
        "2",
        "--max-concurrency",
        "1",
        "--max-skipped",
        "1",
        &input,
    ];
    let out = t.run(&upsert(&s, &args));
    out.assert_code(4).assert_stderr(&[
        "too many invalid items: 2 of 6 skipped (--max-skipped 1)",
        "chunks already committed stay committed",
    ]);
    assert_eq!(t.count("authors").await, 4);
}

async fn the_skipped_line_hints_at_infer_foreign_keys_only_for_missing_foreign_keys(t: &TestDb) {
    let s = schema();
    let lacking = (1..=2)
        .map(|i| {
            format!(
                "{}\n",
                json!({"id": i, "name": "a", "posts": [{"id": i, "title": "t"}]})
            )
        })
        .collect::<String>();
    let input = t.dir.write("fk.ndjson", &lacking);
    let out = t.run(&upsert(&s, &[&input]));
    out.assert_code(0).assert_stderr(&[
        "upsert Author: skipped 2 of 2 items as invalid; primary keys: [1,2]; hint:",
        "--infer-foreign-keys",
    ]);
    assert_eq!(t.count("authors").await, 0);

    // As the hint says: with the flag, they are written.
    let out = t.run(&upsert(&s, &["--infer-foreign-keys", &input]));
    out.assert_code(0);
    assert_eq!(t.count("posts").await, 2);

    // Other errors: no hint.
    let input = t.dir.write("names.ndjson", &authors(0, 2));
    let out = t.run(&upsert(&s, &[&input]));
    out.assert_code(0)
        .assert_stderr(&["upsert Author: skipped 2 of 2 items as invalid"]);
    assert!(!out.stderr.contains("hint"), "{:?}", out.stderr);
}

async fn a_rejects_file_failing_after_the_commit_exits_5_and_the_data_stays(t: &TestDb) {
    // /dev/full takes the buffered records and refuses them when they are flushed, at the
    // end of the call, after the commit.
    let s = schema();
    let input = t.dir.write("in.ndjson", &authors(2, 1));
    let out = t.run(&upsert(&s, &["--rejects", "/dev/full", &input]));
    out.assert_code(5).assert_stderr(&[
        "the rejects file `/dev/full` is incomplete",
        "the valid items were written and committed",
    ]);
    assert!(!out.stderr.contains("malformed"), "{:?}", out.stderr);
    assert_eq!(t.count("authors").await, 2);
}

async fn a_rejects_file_failing_in_a_dry_run_exits_5_and_does_not_say_written(t: &TestDb) {
    let s = schema();
    let input = t.dir.write("in.ndjson", &authors(2, 1));
    let out = t.run(&upsert(
        &s,
        &["--dry-run", "--rejects", "/dev/full", &input],
    ));
    out.assert_code(5).assert_stderr(&[
        "the rejects file `/dev/full` is incomplete",
        "the dry run wrote nothing to the database",
    ]);
    assert!(!out.stderr.contains("were written"), "{:?}", out.stderr);
    assert_eq!(t.count("authors").await, 0);
}

#[test]
fn max_skipped_in_the_schema_file_must_be_a_count_or_a_percentage() {
    let dir = Dir::new();
    let text = std::fs::read_to_string(blog_schema()).expect("the blog schema");
    let s = dir.write(
        "schema.toml",
        &format!("{text}\n[options]\nmax_skipped = true\n"),
    );
    let input = dir.write("in.ndjson", &authors(1, 0));
    let out = dir.run(&upsert(&s, &["--database-url", "sqlite://x.db", &input]));
    out.assert_code(2).assert_stderr(&["options.max_skipped"]);
    assert!(!dir.path().join("x.db").exists());
}
