//! `--rejects FILE` never destroys a file the call reads, and replaces FILE only once the call
//! has read its input: it is refused (exit 2, nothing read, nothing written) when it names an
//! input, the schema file or standard input/output by any spelling; an existing FILE is left
//! as it was by a call that ends before reading, and replaced by one that read.

mod common;

use std::process::Stdio;

use common::{Dir, RUN_LIMIT, TestDb, blog_schema, upsert_authors as upsert, wait_with_deadline};
use serde_json::{Value as J, json};

/// A URL of a server that is not there.
const NOWHERE: &str = "postgres://nobody@127.0.0.1:1/x";

/// A valid author, then an invalid one (no name).
const INPUT: &str = "{\"id\": 1, \"name\": \"Alice\"}\n{\"id\": 2}\n";

fn schema() -> String {
    blog_schema().display().to_string()
}

/// The files of the dir, sorted (to see that no temporary file is left behind).
fn entries(dir: &Dir) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

fn records(text: &str) -> Vec<J> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a rejects line is JSON"))
        .collect()
}

on_every_database!(blog:
    rejects_naming_the_input_by_any_spelling_exits_2_and_leaves_it_unchanged,
    rejects_naming_the_schema_file_exits_2_and_leaves_it_unchanged,
    rejects_naming_standard_input_or_output_exits_2_and_creates_no_file,
    rejects_that_is_the_file_on_standard_input_exits_2_and_leaves_it_unchanged,
    a_successful_call_replaces_an_existing_rejects_file_with_its_rejects,
    a_rolled_back_call_still_moves_the_rejects_of_the_items_read_into_place,
    an_existing_rejects_file_is_unchanged_when_the_prefix_does_not_exist,
    rejects_to_dev_null_or_dev_stderr_is_accepted_and_written_directly,
    a_rejects_symlink_stays_a_link_and_its_target_gets_the_rejects,
);

async fn rejects_naming_the_input_by_any_spelling_exits_2_and_leaves_it_unchanged(t: &TestDb) {
    let input = t.dir.write("in.ndjson", INPUT);
    std::fs::create_dir(t.dir.path().join("sub")).expect("mkdir");
    #[cfg(unix)]
    std::os::unix::fs::symlink("in.ndjson", t.dir.path().join("link.ndjson")).expect("symlink");
    let s = schema();
    let mut spellings = vec!["in.ndjson", "./sub/../in.ndjson"];
    if cfg!(unix) {
        spellings.push("link.ndjson");
    }
    for rejects in spellings {
        let out = t.run(&upsert(&s, &["--rejects", rejects, &input]));
        out.assert_code(2)
            .assert_stderr(&["--rejects", rejects, "is the input file `in.ndjson`"]);
        assert_eq!(out.stdout, "", "{rejects}");
        assert_eq!(t.dir.read("in.ndjson"), INPUT, "{rejects}");
    }
    // The input given by another spelling than the rejects file is caught too.
    let out = t.run(&upsert(
        &s,
        &["--rejects", "in.ndjson", "./sub/../in.ndjson"],
    ));
    out.assert_code(2).assert_stderr(&["is the input file"]);
    assert_eq!(t.dir.read("in.ndjson"), INPUT);
    assert_eq!(t.count("authors").await, 0);
}

async fn rejects_naming_the_schema_file_exits_2_and_leaves_it_unchanged(t: &TestDb) {
    let text = std::fs::read_to_string(blog_schema()).expect("the blog schema");
    let s = t.dir.write("schema.toml", &text);
    let input = t.dir.write("in.ndjson", INPUT);
    for rejects in ["schema.toml", "./schema.toml"] {
        let out = t.run(&upsert(&s, &["--rejects", rejects, &input]));
        out.assert_code(2)
            .assert_stderr(&["--rejects", "is the schema file `schema.toml`"]);
        assert_eq!(t.dir.read("schema.toml"), text, "{rejects}");
    }
    assert_eq!(t.count("authors").await, 0);
}

async fn rejects_naming_standard_input_or_output_exits_2_and_creates_no_file(t: &TestDb) {
    let s = schema();
    let input = t.dir.write("in.ndjson", INPUT);
    for rejects in [
        "-",
        "/dev/stdout",
        "/dev/stdin",
        "/dev/fd/1",
        "/dev/fd/0",
        "/proc/self/fd/1",
        "/proc/self/fd/0",
    ] {
        if rejects.starts_with("/proc") && !std::path::Path::new("/proc/self/fd").exists() {
            continue;
        }
        let out = t.run_stdin(&upsert(&s, &["--rejects", rejects, &input]), INPUT);
        out.assert_code(2).assert_stderr(&["--rejects", rejects]);
        assert_eq!(out.stdout, "", "{rejects}");
    }
    assert_eq!(entries(&t.dir), ["in.ndjson"], "no file named `-`");
    assert_eq!(t.count("authors").await, 0);
}

async fn rejects_that_is_the_file_on_standard_input_exits_2_and_leaves_it_unchanged(t: &TestDb) {
    if !cfg!(unix) {
        return;
    }
    let input = t.dir.write("in.ndjson", INPUT);
    let s = schema();
    let mut cmd = t.command(&upsert(&s, &["--rejects", "in.ndjson"]));
    let file = std::fs::File::open(t.dir.path().join(&input)).expect("open input");
    cmd.stdin(Stdio::from(file))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = wait_with_deadline(cmd.spawn().expect("the binary starts"), RUN_LIMIT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("standard input or output"), "{stderr}");
    assert_eq!(t.dir.read("in.ndjson"), INPUT);
    assert_eq!(t.count("authors").await, 0);
}

async fn a_successful_call_replaces_an_existing_rejects_file_with_its_rejects(t: &TestDb) {
    let s = schema();
    let input = t.dir.write("in.ndjson", INPUT);
    t.dir
        .write("rejects.ndjson", "old line 1\nold line 2\nold line 3\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = t.dir.path().join("rejects.ndjson");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    }
    let out = t.run(&upsert(&s, &["--rejects", "rejects.ndjson", &input]));
    out.assert_code(0);
    assert_eq!(
        records(&t.dir.read("rejects.ndjson")),
        [json!({"file": "in.ndjson", "line": 2, "item": {"id": 2},
            "errors": {"name": ["can't be blank"]}})]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(t.dir.path().join("rejects.ndjson")).expect("metadata");
        assert_eq!(meta.permissions().mode() & 0o777, 0o640, "permissions kept");
    }
    assert_eq!(entries(&t.dir), ["in.ndjson", "rejects.ndjson"]);

    // A call that skips nothing leaves an empty file.
    let valid = t
        .dir
        .write("valid.ndjson", "{\"id\": 3, \"name\": \"Chen\"}\n");
    let out = t.run(&upsert(&s, &["--rejects", "rejects.ndjson", &valid]));
    out.assert_code(0);
    assert_eq!(t.dir.read("rejects.ndjson"), "");
    assert_eq!(t.count("authors").await, 2);
}

async fn a_rolled_back_call_still_moves_the_rejects_of_the_items_read_into_place(t: &TestDb) {
    let s = schema();
    t.dir.write("rejects.ndjson", "old\n");
    // Author 1 exists: the insert fails (exit 1) after the invalid author 2 was skipped.
    let first = t
        .dir
        .write("first.ndjson", "{\"id\": 1, \"name\": \"Alice\"}\n");
    t.run(&upsert(&s, &[&first])).assert_code(0);
    let input = t.dir.write(
        "in.ndjson",
        "{\"id\": 2}\n{\"id\": 1, \"name\": \"Alice again\"}\n",
    );
    let args = [
        "insert",
        "--schema",
        &s,
        "--root",
        "Author",
        "--rejects",
        "rejects.ndjson",
        &input,
    ];
    let out = t.run(&args);
    out.assert_code(1).assert_stderr(&["nothing was written"]);
    assert_eq!(
        records(&t.dir.read("rejects.ndjson")),
        [json!({"file": "in.ndjson", "line": 1, "item": {"id": 2},
            "errors": {"name": ["can't be blank"]}})]
    );
    assert_eq!(t.column("SELECT name FROM authors").await, [json!("Alice")]);
    assert_eq!(
        entries(&t.dir),
        ["first.ndjson", "in.ndjson", "rejects.ndjson"]
    );
}

async fn an_existing_rejects_file_is_unchanged_when_the_prefix_does_not_exist(t: &TestDb) {
    let s = schema();
    let input = t.dir.write("in.ndjson", INPUT);
    t.dir.write("rejects.ndjson", "kept\n");
    let rest = [
        "--prefix",
        "no_such_place",
        "--rejects",
        "rejects.ndjson",
        &input,
    ];
    t.run(&upsert(&s, &rest))
        .assert_code(2)
        .assert_stderr(&["no_such_place"]);
    assert_eq!(t.dir.read("rejects.ndjson"), "kept\n");
    assert_eq!(entries(&t.dir), ["in.ndjson", "rejects.ndjson"]);
    assert_eq!(t.count("authors").await, 0);
}

async fn rejects_to_dev_null_or_dev_stderr_is_accepted_and_written_directly(t: &TestDb) {
    if !cfg!(unix) {
        return;
    }
    let s = schema();
    let input = t.dir.write("in.ndjson", INPUT);
    let out = t.run(&upsert(&s, &["--rejects", "/dev/null", &input]));
    out.assert_code(0);
    assert_eq!(out.json()["skipped"], json!(1));
    let out = t.run(&upsert(&s, &["--rejects", "/dev/stderr", &input]));
    out.assert_code(0).assert_stderr(&[
        r#"{"file":"in.ndjson","line":2,"item":{"id":2},"errors":{"name":["can't be blank"]}}"#,
        "upsert Author: skipped 1 of 2 items as invalid",
    ]);
    assert_eq!(t.count("authors").await, 1);
    assert_eq!(entries(&t.dir), ["in.ndjson"]);
}

async fn a_rejects_symlink_stays_a_link_and_its_target_gets_the_rejects(t: &TestDb) {
    if !cfg!(unix) {
        return;
    }
    let s = schema();
    let input = t.dir.write("in.ndjson", INPUT);
    std::fs::create_dir(t.dir.path().join("out")).expect("mkdir");
    t.dir.write("out/real.ndjson", "old\n");
    #[cfg(unix)]
    std::os::unix::fs::symlink("out/real.ndjson", t.dir.path().join("link.ndjson"))
        .expect("symlink");
    let out = t.run(&upsert(&s, &["--rejects", "link.ndjson", &input]));
    out.assert_code(0);
    let link = std::fs::symlink_metadata(t.dir.path().join("link.ndjson")).expect("link");
    assert!(link.file_type().is_symlink(), "still a link");
    assert_eq!(records(&t.dir.read("out/real.ndjson")).len(), 1);
    assert_eq!(t.count("authors").await, 1);
}

/// A dir with the input (and `rejects.ndjson` holding `existing`, if given), and the run of an
/// upsert of it against a server that is not there with `--rejects REJECTS`.
fn run_nowhere(existing: Option<&str>, rejects: &str) -> (Dir, common::Out) {
    let dir = Dir::new();
    let s = schema();
    let input = dir.write("in.ndjson", INPUT);
    if let Some(text) = existing {
        dir.write("rejects.ndjson", text);
    }
    let rest = ["--database-url", NOWHERE, "--rejects", rejects, &input];
    let out = dir.run(&upsert(&s, &rest));
    (dir, out)
}

#[test]
fn an_existing_rejects_file_is_unchanged_when_the_call_cannot_connect() {
    let (dir, out) = run_nowhere(Some("kept\n"), "rejects.ndjson");
    out.assert_code(1).assert_stderr(&["nothing was written"]);
    assert_eq!(dir.read("rejects.ndjson"), "kept\n");
    let left = entries(&dir);
    assert_eq!(
        left,
        ["in.ndjson", "rejects.ndjson"],
        "no temporary file left"
    );
}

#[test]
fn no_rejects_file_is_created_when_the_call_cannot_connect() {
    let (dir, out) = run_nowhere(None, "rejects.ndjson");
    out.assert_code(1);
    assert_eq!(entries(&dir), ["in.ndjson"]);
}

#[test]
fn a_rejects_file_in_a_missing_directory_exits_2_before_connecting() {
    let (_dir, out) = run_nowhere(None, "no/such/r.ndjson");
    out.assert_code(2)
        .assert_stderr(&["--rejects", "no/such/r.ndjson"]);
}

#[test]
fn a_rejects_path_that_is_a_directory_exits_2_before_connecting() {
    let (_dir, out) = run_nowhere(None, ".");
    out.assert_code(2)
        .assert_stderr(&["--rejects", "directory"]);
}
