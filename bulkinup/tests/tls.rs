//! TLS through the URL's own parameters, against throwaway servers this test binary starts
//! (PostgreSQL and MariaDB, one with TLS and one without, each with a certificate for
//! `localhost` signed by a CA the test made): every mode that encrypts loads rows over TLS;
//! the verifying modes check the certificate against `sslrootcert` / `ssl-ca` (and, for
//! `verify-full` / `VERIFY_IDENTITY`, the host name); a failed verification and a server
//! without TLS under a mode that requires it fail with `Error::Connect` and the real cause,
//! the password hidden; with no parameter, TLS is used where the server offers it.

mod common;
mod throwaway;

use bulkinup::{Db, Error, Options};
use common::{Kind, TestDb};
use serde_json::json;
use throwaway::{CERT_USER, Server, Tls, certs};

/// One database's side of the tests: its kind, its throwaway server and its URL parameters.
struct TlsDb {
    kind: Kind,
    /// Its URL scheme.
    scheme: &'static str,
    server: throwaway::Kind,
    /// The superuser part of its URLs, to add a password to.
    superuser: &'static str,
    /// The TLS mode parameter and its values that require TLS, verify the CA, verify the
    /// CA and the host name.
    mode: &'static str,
    require: &'static str,
    verify_ca: &'static str,
    verify_full: &'static str,
    /// The parameters naming the CA file, the client certificate and its key.
    ca: &'static str,
    cert: &'static str,
    key: &'static str,
}

const POSTGRES: TlsDb = TlsDb {
    kind: Kind::Postgres,
    scheme: "postgres",
    server: throwaway::Kind::Postgres,
    superuser: "postgres@",
    mode: "sslmode",
    require: "require",
    verify_ca: "verify-ca",
    verify_full: "verify-full",
    ca: "sslrootcert",
    cert: "sslcert",
    key: "sslkey",
};

const MYSQL: TlsDb = TlsDb {
    kind: Kind::MySql,
    scheme: "mysql",
    server: throwaway::Kind::MariaDb,
    superuser: "root@",
    mode: "ssl-mode",
    require: "REQUIRED",
    verify_ca: "VERIFY_CA",
    verify_full: "VERIFY_IDENTITY",
    ca: "ssl-ca",
    cert: "ssl-cert",
    key: "ssl-key",
};

impl TlsDb {
    /// Its throwaway server with TLS `tls`, or `None` (skipped).
    fn server(&self, tls: Tls) -> Option<&'static Server> {
        throwaway::server(self.server, tls)
    }

    /// `mode=value` with, when given, the CA file `ca`.
    fn params(&self, value: &str, ca: Option<&std::path::Path>) -> String {
        match ca {
            Some(ca) => format!("{}={value}&{}={}", self.mode, self.ca, q(ca)),
            None => format!("{}={value}", self.mode),
        }
    }

    /// `url` with the password `secret`, which no message may show.
    fn with_password(&self, url: &str) -> String {
        let user = self.superuser.trim_end_matches('@');
        url.replacen(self.superuser, &format!("{user}:secret@"), 1)
    }
}

on_throwaway_servers!(
    &super::POSTGRES, &super::MYSQL;
    require_loads_over_tls,
    verify_full_with_the_test_ca_loads_over_tls,
    verify_ca_checks_the_ca_but_not_the_host_name,
    no_mode_uses_tls_when_the_server_offers_it,
    no_mode_connects_in_plain_text_to_a_server_without_tls,
    verify_full_against_a_certificate_for_another_host_fails,
    verify_full_against_a_certificate_of_an_unknown_ca_fails,
    require_against_a_server_without_tls_fails,
    a_client_certificate_authenticates_its_user,
    a_tls_file_that_cannot_be_read_is_an_invalid_url_before_connecting,
    an_unknown_mode_is_an_invalid_url,
    a_misspelt_tls_parameter_is_an_invalid_url_not_ignored,
);

/// `path` as a URL query value.
fn q(path: &std::path::Path) -> String {
    url::form_urlencoded::byte_serialize(path.display().to_string().as_bytes()).collect()
}

/// Whether `db`'s connection is encrypted, as the server sees it.
async fn encrypted(db: &Db, kind: Kind) -> bool {
    let sql = match kind {
        Kind::Postgres => {
            "SELECT CASE WHEN ssl THEN 'yes' ELSE 'no' END AS tls FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        }
        _ => {
            "SELECT CASE WHEN VARIABLE_VALUE <> '' THEN 'yes' ELSE 'no' END AS tls \
             FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'SSL_CIPHER'"
        }
    };
    let rows = db
        .fetch_json(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.first().and_then(|r| r.get("tls")) == Some(&json!("yes"))
}

/// Upserts two authors through a fresh database on `url`'s server and asserts the rows, and
/// that the connection was encrypted (`tls`).
async fn loads(kind: Kind, url: &str, tls: bool) {
    let t = TestDb::blog_on(kind, url).await;
    let items = vec![
        json!({"id": 1, "name": "Alice"}),
        json!({"id": 2, "name": "Bob"}),
    ];
    let summary = bulkinup::upsert(&t.db, &common::blog(), "Author", items, &Options::default())
        .await
        .unwrap_or_else(|e| panic!("upsert over {url}: {e}"));
    assert_eq!(summary.written, 2);
    assert_eq!(
        t.rows("SELECT id, name FROM authors ORDER BY id").await,
        vec![
            json!({"id": 1, "name": "Alice"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            json!({"id": 2, "name": "Bob"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        ]
    );
    assert_eq!(encrypted(&t.db, kind).await, tls, "TLS in use over {url}");
    t.cleanup().await;
}

/// The error of connecting to `url`, which must fail, with its message.
async fn refused(url: &str) -> (Error, String) {
    match Db::connect(url).await {
        Ok(db) => panic!("{url} connected ({:?})", db.kind()),
        Err(e) => {
            let text = e.to_string();
            eprintln!("{url}: {text}");
            (e, text)
        }
    }
}

/// Asserts a failed connect is `Error::Connect`, exit 1, with the driver's error as source,
/// without the password, naming `cause`.
fn assert_connect_error(e: &Error, text: &str, cause: &str) {
    assert!(
        matches!(
            e,
            Error::Connect {
                source: Some(_),
                timed_out_after: None,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 1);
    assert!(text.contains(cause), "`{cause}` in: {text}");
    assert!(text.contains(":***@"), "password hidden: {text}");
    assert!(
        !format!("{e:?}").contains("secret"),
        "no password in: {e:?}"
    );
}

async fn require_loads_over_tls(d: &TlsDb) {
    let Some(s) = d.server(Tls::On) else { return };
    loads(
        d.kind,
        &s.url("127.0.0.1", &d.params(d.require, None)),
        true,
    )
    .await;
}

async fn verify_full_with_the_test_ca_loads_over_tls(d: &TlsDb) {
    let Some(s) = d.server(Tls::On) else { return };
    let params = d.params(d.verify_full, Some(&certs().ca));
    loads(d.kind, &s.url("localhost", &params), true).await;
}

async fn verify_ca_checks_the_ca_but_not_the_host_name(d: &TlsDb) {
    let Some(s) = d.server(Tls::On) else { return };
    // The certificate is for `localhost`, not 127.0.0.1: the name is not compared.
    let params = d.params(d.verify_ca, Some(&certs().ca));
    loads(d.kind, &s.url("127.0.0.1", &params), true).await;
}

async fn no_mode_uses_tls_when_the_server_offers_it(d: &TlsDb) {
    let Some(s) = d.server(Tls::On) else { return };
    loads(d.kind, &s.url("127.0.0.1", ""), true).await;
}

async fn no_mode_connects_in_plain_text_to_a_server_without_tls(d: &TlsDb) {
    let Some(s) = d.server(Tls::Off) else { return };
    loads(d.kind, &s.url("127.0.0.1", ""), false).await;
}

async fn verify_full_against_a_certificate_for_another_host_fails(d: &TlsDb) {
    let Some(s) = d.server(Tls::On) else { return };
    let params = d.params(d.verify_full, Some(&certs().ca));
    let (e, text) = refused(&d.with_password(&s.url("127.0.0.1", &params))).await;
    assert_connect_error(&e, &text, "certificate not valid for name \"127.0.0.1\"");
}

async fn verify_full_against_a_certificate_of_an_unknown_ca_fails(d: &TlsDb) {
    let Some(s) = d.server(Tls::On) else { return };
    let params = d.params(d.verify_full, Some(&certs().other_ca));
    let (e, text) = refused(&d.with_password(&s.url("localhost", &params))).await;
    assert_connect_error(
        &e,
        &text,
        "TLS: invalid peer certificate: UnknownIssuer: no trusted CA signed the server's certificate",
    );
}

async fn require_against_a_server_without_tls_fails(d: &TlsDb) {
    let Some(s) = d.server(Tls::Off) else { return };
    let params = d.params(d.require, None);
    let (e, text) = refused(&d.with_password(&s.url("127.0.0.1", &params))).await;
    assert_connect_error(&e, &text, "server does not support TLS");
}

async fn a_client_certificate_authenticates_its_user(d: &TlsDb) {
    let Some(s) = d.server(Tls::On) else { return };
    let admin = Db::connect(&s.url("127.0.0.1", ""))
        .await
        .expect("the throwaway server connects");
    // The user exists once per server (only this test creates it); PostgreSQL's
    // authenticates by its certificate alone (pg_hba.conf), MariaDB's requires one.
    let create = match d.kind {
        Kind::Postgres => format!(
            "DO $$ BEGIN CREATE ROLE {CERT_USER} LOGIN SUPERUSER; \
             EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        ),
        _ => format!(
            "CREATE USER IF NOT EXISTS {CERT_USER}@'%' REQUIRE SUBJECT '/CN={CERT_USER}'; \
             GRANT ALL ON *.* TO {CERT_USER}@'%'"
        ),
    };
    admin
        .execute_script(&create)
        .await
        .expect("create the user");
    admin.close().await;
    let (e, text) = refused(&s.url_as(CERT_USER, "127.0.0.1", &d.params(d.require, None))).await;
    assert!(matches!(e, Error::Connect { .. }), "{e:?}");
    eprintln!("without a client certificate: {text}");
    let c = certs();
    let params = format!(
        "{}&{}={}&{}={}",
        d.params(d.verify_full, Some(&c.ca)),
        d.cert,
        q(&c.client_cert),
        d.key,
        q(&c.client_key)
    );
    loads(d.kind, &s.url_as(CERT_USER, "localhost", &params), true).await;
}

async fn a_tls_file_that_cannot_be_read_is_an_invalid_url_before_connecting(d: &TlsDb) {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing-ca.pem");
    // Port 1: were the file not checked first, the error would be `connection refused`.
    let url = format!(
        "{}://u:secret@127.0.0.1:1/x?{}",
        d.scheme,
        d.params(d.verify_full, Some(&missing))
    );
    let e = Db::connect(&url).await.expect_err("an unreadable CA file");
    assert!(
        matches!(&e, Error::InvalidOption { name, .. } if name == "database_url"),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 2);
    assert_eq!(
        e.to_string(),
        format!(
            "invalid option `database_url`: `{}={}`: cannot read the file: no such file or directory",
            d.ca,
            missing.display()
        )
    );
}

async fn an_unknown_mode_is_an_invalid_url(d: &TlsDb) {
    let url = format!("{}://u:secret@127.0.0.1:1/x?{}=sometimes", d.scheme, d.mode);
    let e = Db::connect(&url).await.expect_err("an unknown mode");
    assert!(
        matches!(&e, Error::InvalidOption { name, .. } if name == "database_url"),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("sometimes"), "{e}");
    assert!(!e.to_string().contains("secret"), "{e}");
}

async fn a_misspelt_tls_parameter_is_an_invalid_url_not_ignored(d: &TlsDb) {
    // The driver would ignore `ssl_mode` and connect with its default, which requires nothing.
    let misspelt = d.mode.replace('-', "_").replace("sslmode", "ssl_mode");
    let url = format!(
        "{}://u:secret@127.0.0.1:1/x?{misspelt}={}",
        d.scheme, d.require
    );
    let e = Db::connect(&url).await.expect_err("a misspelt parameter");
    assert!(
        matches!(&e, Error::InvalidOption { name, .. } if name == "database_url"),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 2);
    let text = e.to_string();
    let expected = format!(
        "invalid option `database_url`: unknown TLS parameter `{misspelt}`: did you mean `"
    );
    assert!(text.starts_with(&expected), "{text}");
    assert!(
        text.contains(&format!("(valid: {}", d.mode.replace('-', ""))) || text.contains(d.mode),
        "{text}"
    );
}
