//! `--shard K/N`: three `bulkinup` processes given one input file and shards 0/3, 1/3 and
//! 2/3, run at once, write exactly the rows of one run without `--shard`; a shard that does
//! not exist exits 2 naming the flag.

mod common;

use std::process::{Child, Stdio};

use common::{TestDb, finish};
use serde_json::json;

/// Several writers at once: PostgreSQL and MariaDB/MySQL.
mod servers {
    use super::*;
    on_every_database!(@on postgres, Postgres, blog:
        three_shard_processes_at_once_write_exactly_the_rows_of_one_run);
    on_every_database!(@on mysql, MySql, blog:
        three_shard_processes_at_once_write_exactly_the_rows_of_one_run);
}
on_every_database!(blog: a_shard_that_does_not_exist_exits_2_naming_the_flag);

/// 300 authors with a profile, an address, 2 posts each with 2 comments and 2 of 10 shared
/// tags; author 3 given again at the end (renamed); one invalid author (no name).
fn input() -> String {
    let mut lines = common::blog_feed(300, 10);
    lines.push(json!({"id": 3, "name": "author 3, again"}));
    lines.push(json!({"id": 301}));
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn upsert_args(schema: &str, file: &str, shard: Option<&str>) -> Vec<String> {
    let mut args: Vec<String> = [
        "upsert",
        "--schema",
        schema,
        "--root",
        "Author",
        "--chunk-size",
        "40",
    ]
    .map(str::to_string)
    .to_vec();
    if let Some(shard) = shard {
        args.extend(["--shard".to_string(), shard.to_string()]);
    }
    args.push(file.to_string());
    args
}

/// Starts the binary against the test's database.
fn start(t: &TestDb, args: &[String]) -> Child {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = t.command(&args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("the binary starts")
}

async fn three_shard_processes_at_once_write_exactly_the_rows_of_one_run(t: &TestDb) {
    let schema = common::blog_schema().display().to_string();
    let file = t.dir.write("authors.ndjson", &input());
    let whole = t.run(
        &upsert_args(&schema, &file, None)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    whole.assert_code(0);
    let expected = t.blog_state().await;
    assert_eq!(t.count("authors").await, 300);
    t.empty_blog_tables().await;
    assert_eq!(t.count("posts_tags").await, 0);

    let children: Vec<Child> = ["0/3", "1/3", "2/3"]
        .into_iter()
        .map(|shard| start(t, &upsert_args(&schema, &file, Some(shard))))
        .collect();
    let mut parts = Vec::new();
    for child in children {
        let out = finish(child).await;
        out.assert_code(0);
        parts.push(out.json());
    }
    assert_eq!(t.blog_state().await, expected);
    let sum = |key: &str| {
        parts
            .iter()
            .map(|p| p[key].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    assert_eq!(
        sum("upserted"),
        whole.json()["upserted"].as_u64().unwrap_or(0)
    );
    assert_eq!(sum("skipped"), 1);
    for part in &parts {
        let own = part["upserted"].as_u64().unwrap_or(0) + part["skipped"].as_u64().unwrap_or(0);
        assert!(own > 0, "a part wrote nothing: {part}");
        assert_eq!(
            own + part["other_shards"].as_u64().unwrap_or(0),
            302,
            "{part}"
        );
    }
}

async fn a_shard_that_does_not_exist_exits_2_naming_the_flag(t: &TestDb) {
    let schema = common::blog_schema().display().to_string();
    let file = t
        .dir
        .write("authors.ndjson", "{\"id\": 1, \"name\": \"A\"}\n");
    for (shard, says) in [("3/3", "K counts from 0"), ("1of3", "K/N")] {
        let args = upsert_args(&schema, &file, Some(shard));
        let out = t.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        out.assert_code(2).assert_stderr(&["--shard", says]);
    }
    assert_eq!(t.count("authors").await, 0);
}
