//! The command line's side of TLS: the URL's own parameters reach the driver unchanged, so
//! `verify-full` / `VERIFY_IDENTITY` with the test's CA loads rows over TLS, and a
//! certificate for another host exits 1 with the cause and the URL without its password —
//! against the library tests' throwaway PostgreSQL and MariaDB servers with TLS.

mod common;
#[path = "../../bulkinup/tests/throwaway/mod.rs"]
mod throwaway;

use common::{Dir, Kind, TestDb, blog_schema};
use serde_json::json;
use throwaway::{Tls, certs};

/// Each database's throwaway kind, URL superuser and verifying parameters for the CA file.
fn verify_full(kind: Kind) -> (throwaway::Kind, &'static str, String) {
    let ca: String =
        url::form_urlencoded::byte_serialize(certs().ca.display().to_string().as_bytes()).collect();
    match kind {
        Kind::Postgres => (
            throwaway::Kind::Postgres,
            "postgres@",
            format!("sslmode=verify-full&sslrootcert={ca}"),
        ),
        _ => (
            throwaway::Kind::MariaDb,
            "root@",
            format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"),
        ),
    }
}

on_throwaway_servers!(
    super::Kind::Postgres, super::Kind::MySql;
    verify_full_with_the_test_ca_loads,
    verify_full_against_a_certificate_for_another_host_exits_1,
);

const ITEMS: &str = "{\"id\": 1, \"name\": \"Alice\"}\n{\"id\": 2, \"name\": \"Bob\"}\n";

fn upsert_args(input: &str) -> Vec<String> {
    let schema = blog_schema().display().to_string();
    ["upsert", "--schema", &schema, "--root", "Author", input]
        .map(str::to_string)
        .to_vec()
}

async fn verify_full_with_the_test_ca_loads(kind: Kind) {
    let (server, _, params) = verify_full(kind);
    let Some(s) = throwaway::server(server, Tls::On) else {
        return;
    };
    let t = TestDb::blog_on(kind, &s.url("localhost", &params)).await;
    let input = t.dir.write("in.ndjson", ITEMS);
    let args = upsert_args(&input);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = t.run(&args);
    out.assert_code(0);
    assert_eq!(
        t.column("SELECT name FROM authors ORDER BY id").await,
        [json!("Alice"), json!("Bob")]
    );
    t.cleanup().await;
}

async fn verify_full_against_a_certificate_for_another_host_exits_1(kind: Kind) {
    let (server, superuser, params) = verify_full(kind);
    let Some(s) = throwaway::server(server, Tls::On) else {
        return;
    };
    let user = superuser.trim_end_matches('@');
    let url = s
        .url("127.0.0.1", &params)
        .replacen(superuser, &format!("{user}:secret@"), 1);
    let dir = Dir::new();
    let input = dir.write("in.ndjson", ITEMS);
    let args = upsert_args(&input);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = dir.command(&args);
    cmd.env("DATABASE_URL", &url);
    let out = dir.run_with(cmd, None);
    out.assert_code(1).assert_stderr(&[
        &format!("cannot connect to {}", url.replace(":secret@", ":***@")),
        "TLS: invalid peer certificate: certificate not valid for name \"127.0.0.1\"",
        "nothing was written",
    ]);
    assert!(!out.stderr.contains("secret"), "{:?}", out.stderr);
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
}
