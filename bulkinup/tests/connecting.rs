//! Connecting is bounded by `connect_timeout` and fails with the real reason: a refused
//! connection is reported at once as `cannot connect to URL: connection refused` (the URL
//! without its password), a server that accepts and never answers as `no answer within N s`
//! once the limit is reached — on the client's clock, whatever the driver does. Run against
//! the PostgreSQL and MariaDB drivers (a closed port and a silent listener need no server)
//! and, for what applies to it, SQLite; a short limit still connects to the real servers.

mod common;

use std::time::{Duration, Instant};

use bulkinup::options::{Flags, Layer, schema_file_layers};
use bulkinup::{DEFAULT_CONNECT_TIMEOUT, Db, Error, Options, Registry, Verb};
use common::{TestDb, silent_server};

on_network_drivers!(
    a_closed_port_is_refused_at_once_naming_the_url_without_its_password,
    a_closed_port_is_refused_at_once_with_the_default_limit,
    a_server_that_never_answers_fails_when_the_limit_is_reached,
);

on_every_database!(empty: a_short_connect_timeout_still_connects);

/// The error of connecting to `url` within `limit` (`None`: [`Db::connect`]'s default), and
/// how long it took to come.
async fn failed_connect(url: &str, limit: Option<Duration>) -> (Error, Duration) {
    let started = Instant::now();
    let result = match limit {
        Some(limit) => Db::connect_timeout(url, limit).await,
        None => Db::connect(url).await,
    };
    let elapsed = started.elapsed();
    eprintln!("{url}: failed after {elapsed:?} (limit {limit:?})");
    match result {
        Ok(db) => panic!("connected to {:?}", db.kind()),
        Err(e) => (e, elapsed),
    }
}

async fn a_closed_port_is_refused_at_once_naming_the_url_without_its_password(scheme: &str) {
    let url = format!("{scheme}://user:secret@127.0.0.1:1/x");
    let (err, elapsed) = failed_connect(&url, Some(Duration::from_secs(5))).await;
    assert_eq!(
        err.to_string(),
        format!("cannot connect to {scheme}://user:***@127.0.0.1:1/x: connection refused")
    );
    assert!(
        matches!(
            &err,
            Error::Connect {
                timed_out_after: None,
                source: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 1);
    assert!(!format!("{err:?}").contains("secret"), "{err:?}");
    assert!(elapsed < Duration::from_secs(2), "not retried: {elapsed:?}");
}

async fn a_closed_port_is_refused_at_once_with_the_default_limit(scheme: &str) {
    let url = format!("{scheme}://user@127.0.0.1:1/x");
    let (err, elapsed) = failed_connect(&url, None).await;
    assert_eq!(
        err.to_string(),
        format!("cannot connect to {url}: connection refused")
    );
    assert!(elapsed < Duration::from_secs(2), "not retried: {elapsed:?}");
}

async fn a_server_that_never_answers_fails_when_the_limit_is_reached(scheme: &str) {
    let addr = silent_server();
    let url = format!("{scheme}://user:secret@{addr}/x");
    let limit = Duration::from_millis(700);
    let (err, elapsed) = failed_connect(&url, Some(limit)).await;
    assert_eq!(
        err.to_string(),
        format!(
            "cannot connect to {scheme}://user:***@{addr}/x: no answer within 0.7 s (--connect-timeout)"
        )
    );
    assert!(
        matches!(&err, Error::Connect { timed_out_after: Some(s), .. } if *s == 0.7),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 1);
    assert!(elapsed >= limit, "waited the limit: {elapsed:?}");
    assert!(
        elapsed < limit + Duration::from_secs(2),
        "bounded: {elapsed:?}"
    );
}

async fn a_short_connect_timeout_still_connects(t: &TestDb) {
    let started = Instant::now();
    let db = Db::connect_timeout(&t.url, Duration::from_secs(2))
        .await
        .unwrap_or_else(|e| panic!("{} connects: {e}", t.url));
    eprintln!("{:?}: connected in {:?}", t.kind, started.elapsed());
    let rows = db
        .fetch_json("SELECT 1 AS one")
        .await
        .expect("a query runs");
    assert_eq!(rows.len(), 1);
    db.close().await;
}

#[tokio::test]
async fn sqlite_a_file_that_cannot_be_opened_fails_at_once_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}",
        dir.path().join("missing").join("x.db").display()
    );
    let (err, elapsed) = failed_connect(&url, Some(Duration::from_secs(5))).await;
    assert_eq!(
        err.to_string(),
        format!(
            "cannot connect to {url}: the directory `{}` of the SQLite file does not exist",
            dir.path().join("missing").display()
        )
    );
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[tokio::test]
async fn sqlite_an_attachment_that_cannot_be_opened_fails_at_once_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let attached = dir.path().join("missing").join("a.db");
    let url = format!(
        "sqlite://{}?attach=a:{}",
        dir.path().join("main.db").display(),
        attached.display()
    );
    let (err, elapsed) = failed_connect(&url, Some(Duration::from_secs(5))).await;
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("cannot connect to {url}: ")) && message.contains("a.db"),
        "{message}"
    );
    assert!(
        matches!(
            &err,
            Error::Connect {
                timed_out_after: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(elapsed < Duration::from_secs(2), "not retried: {elapsed:?}");
}

// ---------------------------------------------------------------------------------------
// The option: default, text forms, validation.

const SCHEMA: &str = r#"
[schemas.Tag]
source = "tags"
fields = { id = "integer", name = "string" }
changesets.changeset = { cast = ["id", "name"] }
"#;

fn registry() -> Registry {
    Registry::from_toml_str(SCHEMA, "inline")
        .expect("schema loads")
        .registry
}

fn resolve(layer: &Layer) -> bulkinup::Result<Options> {
    layer.resolve(&registry(), Verb::Upsert, "Tag", false, chrono::Utc::now())
}

#[test]
fn the_default_is_ten_seconds() {
    assert_eq!(DEFAULT_CONNECT_TIMEOUT, Duration::from_secs(10));
    assert_eq!(Options::default().connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    let opts = resolve(&Layer::default()).expect("defaults resolve");
    assert_eq!(opts.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
}

#[test]
fn the_flag_takes_seconds_and_refuses_infinity_and_zero() {
    let mut flags = Flags::default();
    flags.connect_timeout = Some("2.5".into());
    let layer = Layer::from_flags(&flags, Verb::Upsert).expect("2.5 is valid");
    let opts = resolve(&layer).expect("resolves");
    assert_eq!(opts.connect_timeout, Duration::from_millis(2500));
    for bad in ["infinity", "0", "-1", "soon"] {
        flags.connect_timeout = Some(bad.into());
        let e = Layer::from_flags(&flags, Verb::Upsert).unwrap_err();
        let message = e.to_string();
        assert_eq!(e.exit_code(), 2, "{message}");
        assert!(message.contains("`--connect-timeout`"), "{message}");
        assert!(message.contains("a number of seconds > 0"), "{message}");
        assert!(!message.contains("no limit"), "{message}");
    }
}

#[test]
fn the_schema_file_key_takes_seconds_the_flag_wins_and_infinity_is_refused_at_its_position() {
    let file = Registry::from_toml_str(
        &format!("{SCHEMA}\n[options]\nconnect_timeout = 3\n"),
        "schema.toml",
    )
    .expect("schema loads");
    let (shared, per_verb) = schema_file_layers(&file, "schema.toml", Verb::Upsert).unwrap();
    let merged = shared.overlay(per_verb);
    assert_eq!(
        resolve(&merged).unwrap().connect_timeout,
        Duration::from_secs(3)
    );
    let mut flags = Flags::default();
    flags.connect_timeout = Some("1".into());
    let merged = merged.overlay(Layer::from_flags(&flags, Verb::Upsert).unwrap());
    assert_eq!(
        resolve(&merged).unwrap().connect_timeout,
        Duration::from_secs(1)
    );

    for (value, expected) in [
        ("\"infinity\"", "cannot be `infinity`"),
        ("0", "is not a positive number of seconds"),
        ("\"10\"", "expected a number of seconds > 0"),
    ] {
        let text = format!("{SCHEMA}\n[options]\nconnect_timeout = {value}\n");
        let file = Registry::from_toml_str(&text, "schema.toml").expect("schema loads");
        let e = schema_file_layers(&file, "schema.toml", Verb::Upsert).unwrap_err();
        let message = e.to_string();
        assert_eq!(e.exit_code(), 2, "{message}");
        assert!(message.contains("options.connect_timeout"), "{message}");
        assert!(message.contains("schema.toml:"), "{message}");
        assert!(message.contains(expected), "{message}");
    }
}

#[test]
fn a_zero_limit_given_to_the_library_is_refused_before_anything_connects() {
    let e = Options::default()
        .connect_timeout(Duration::ZERO)
        .validate(&registry(), Verb::Upsert, "Tag")
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidOption { name, .. } if name == "connect_timeout"),
        "{e:?}"
    );
}
