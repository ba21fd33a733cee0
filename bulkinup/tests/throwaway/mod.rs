//! Throwaway database servers, for tests that need a server in a state the shared ones are
//! not in (TLS on with a certificate the test made, TLS off): a PostgreSQL or a MariaDB
//! started from its own binaries, in a temp dir, on a free port of 127.0.0.1.
//!
//! Each kind of server starts once per test binary, on first use (a `OnceLock` shared by the
//! tests), and is waited for until it is ready (bounded). It stops when the test process
//! ends, however it ends: a small shell watches a pipe that only the test process holds, and
//! when the pipe closes it stops the server and deletes its directory.
//!
//! The certificates are made here with `rcgen`: a CA, a server certificate signed by it for
//! the name `localhost` only (so that `127.0.0.1` is a host the certificate is *not* for), a
//! client certificate for the user `bk_cert`, and a second CA that signed none of them.
//!
//! Starting needs PostgreSQL's binaries (`/usr/lib/postgresql/*/bin`) or MariaDB's
//! (`mariadb-install-db`, `mariadbd`). As root, PostgreSQL runs as the `postgres` user and
//! MariaDB with `--user=root`. When a server cannot start, a test fails if the variable of
//! its kind (`BULKINUP_TEST_PG_URL`, `BULKINUP_TEST_MYSQL_URL`) is set, and is skipped with a
//! message on standard error otherwise.
#![allow(dead_code)]

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Declares each listed `async fn NAME(arg)` as a test per throwaway server kind:
/// `postgres::NAME` called with `$postgres`, `mysql::NAME` with `$mysql` (expressions
/// written from inside those modules, e.g. `&super::POSTGRES`).
#[macro_export]
macro_rules! on_throwaway_servers {
    ($postgres:expr, $mysql:expr; $($name:ident),* $(,)?) => {
        mod postgres {
            $( #[tokio::test] async fn $name() { super::$name($postgres).await; } )*
        }
        mod mysql {
            $( #[tokio::test] async fn $name() { super::$name($mysql).await; } )*
        }
    };
}

/// How long a server may take to start before the test fails.
const START_LIMIT: Duration = Duration::from_secs(60);

/// The kinds of throwaway server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// PostgreSQL.
    Postgres,
    /// MariaDB.
    MariaDb,
}

/// Whether a server offers TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// TLS with the test's server certificate (for `localhost`, signed by [`Certs::ca`]).
    On,
    /// No TLS at all.
    Off,
}

/// The certificates the tests made, as PEM files.
pub struct Certs {
    /// The CA that signed the server and client certificates.
    pub ca: PathBuf,
    /// The server's certificate, for `localhost` only.
    pub server_cert: PathBuf,
    /// The server's private key.
    pub server_key: PathBuf,
    /// A client certificate for the user `bk_cert`, signed by [`Certs::ca`].
    pub client_cert: PathBuf,
    /// The client certificate's private key.
    pub client_key: PathBuf,
    /// A CA that signed none of these.
    pub other_ca: PathBuf,
    /// The pipe of the shell that deletes the files when the test process ends.
    _guard: Mutex<ChildStdin>,
}

/// The user a client certificate authenticates (its common name).
pub const CERT_USER: &str = "bk_cert";

/// The test's certificates, made once per test binary in a temp dir that is deleted when the
/// test process ends.
pub fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| make_certs().unwrap_or_else(|e| panic!("making certificates: {e}")))
}

fn make_certs() -> Result<Certs, Box<dyn std::error::Error>> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let dir = tempfile::Builder::new()
        .prefix("bk-certs-")
        .tempdir()?
        .keep();
    let write = |name: &str, pem: String| -> std::io::Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, pem)?;
        Ok(path)
    };
    let ca = |name: &str| -> Result<(String, Issuer<'static, KeyPair>), rcgen::Error> {
        let mut params = CertificateParams::new(Vec::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok((cert.pem(), Issuer::new(params, key)))
    };
    let (ca_pem, issuer) = ca("bulkinup test CA")?;
    let (other_ca_pem, _) = ca("bulkinup other CA")?;

    let mut server = CertificateParams::new(vec!["localhost".to_string()])?;
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate()?;
    let server_cert = server.signed_by(&server_key, &issuer)?;

    let mut client = CertificateParams::new(Vec::new())?;
    client
        .distinguished_name
        .push(DnType::CommonName, CERT_USER);
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate()?;
    let client_cert = client.signed_by(&client_key, &issuer)?;

    Ok(Certs {
        _guard: Mutex::new(delete_at_exit(&dir)?),
        ca: write("ca.pem", ca_pem)?,
        server_cert: write("server.crt", server_cert.pem())?,
        server_key: write("server.key", server_key.serialize_pem())?,
        client_cert: write("client.crt", client_cert.pem())?,
        client_key: write("client.key", client_key.serialize_pem())?,
        other_ca: write("other-ca.pem", other_ca_pem)?,
    })
}

/// A shell that deletes `dir` when its standard input, the returned pipe, closes: when the
/// test process ends, however it ends.
fn delete_at_exit(dir: &Path) -> std::io::Result<ChildStdin> {
    let mut child = Command::new("sh")
        .args(["-c", r#"read _; rm -rf "$1""#, "sh"])
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no pipe to the shell"))
}

/// A running throwaway server.
pub struct Server {
    /// Its kind.
    pub kind: Kind,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Whether it offers TLS.
    pub tls: Tls,
    /// The write end of the pipe the watching shell reads: the server stops when it closes.
    _guard: Mutex<ChildStdin>,
}

impl Server {
    /// The URL of the server's superuser at `host` (`127.0.0.1` or `localhost`) on the
    /// database every fresh server has, with `params` (`a=b&c=d`, may be empty) as query.
    pub fn url(&self, host: &str, params: &str) -> String {
        let base = match self.kind {
            Kind::Postgres => format!("postgres://postgres@{host}:{}/postgres", self.port),
            Kind::MariaDb => format!("mysql://root@{host}:{}/mysql", self.port),
        };
        if params.is_empty() {
            base
        } else {
            format!("{base}?{params}")
        }
    }

    /// As [`Server::url`], for another `user`.
    pub fn url_as(&self, user: &str, host: &str, params: &str) -> String {
        let url = self.url(host, params);
        let superuser = match self.kind {
            Kind::Postgres => "postgres@",
            Kind::MariaDb => "root@",
        };
        url.replacen(superuser, &format!("{user}@"), 1)
    }
}

/// The throwaway server of `kind` with `tls`, started on first use; `None` (skipped, with a
/// message) when it cannot start and its kind's test variable is unset.
///
/// # Panics
/// When it cannot start and `BULKINUP_TEST_PG_URL` (PostgreSQL) or `BULKINUP_TEST_MYSQL_URL`
/// (MariaDB) is set.
pub fn server(kind: Kind, tls: Tls) -> Option<&'static Server> {
    static PG_TLS: OnceLock<Result<Server, String>> = OnceLock::new();
    static PG_PLAIN: OnceLock<Result<Server, String>> = OnceLock::new();
    static MARIADB_TLS: OnceLock<Result<Server, String>> = OnceLock::new();
    static MARIADB_PLAIN: OnceLock<Result<Server, String>> = OnceLock::new();
    let cell = match (kind, tls) {
        (Kind::Postgres, Tls::On) => &PG_TLS,
        (Kind::Postgres, Tls::Off) => &PG_PLAIN,
        (Kind::MariaDb, Tls::On) => &MARIADB_TLS,
        (Kind::MariaDb, Tls::Off) => &MARIADB_PLAIN,
    };
    let var = match kind {
        Kind::Postgres => "BULKINUP_TEST_PG_URL",
        Kind::MariaDb => "BULKINUP_TEST_MYSQL_URL",
    };
    match cell.get_or_init(|| start(kind, tls)) {
        Ok(server) => Some(server),
        Err(e) if std::env::var_os(var).is_some() => {
            panic!(
                "{var} is set but the throwaway {kind:?} server (TLS {tls:?}) did not start: {e}"
            )
        }
        Err(e) => {
            eprintln!(
                "SKIPPED: the throwaway {kind:?} server (TLS {tls:?}) did not start ({e}); set {var} to make this a failure"
            );
            None
        }
    }
}

fn start(kind: Kind, tls: Tls) -> Result<Server, String> {
    let started = Instant::now();
    let server = match kind {
        Kind::Postgres => start_postgres(tls),
        Kind::MariaDb => start_mariadb(tls),
    }?;
    eprintln!(
        "throwaway {kind:?} server (TLS {tls:?}) on 127.0.0.1:{} ready in {:?}",
        server.port,
        started.elapsed()
    );
    Ok(server)
}

/// The user and group ids a server runs as: `name`'s when the test runs as root (neither
/// server runs as root by default), else none (the test's own).
fn run_as(name: &str) -> Result<Option<(u32, u32)>, String> {
    if !is_root()? {
        return Ok(None);
    }
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, name])
            .output()
            .map_err(|e| format!("id {flag} {name}: {e}"))?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| format!("no user `{name}` to run the server as"))
    };
    Ok(Some((id("-u")?, id("-g")?)))
}

/// Whether the test runs as root (the owner of `/proc/self` is the effective user).
fn is_root() -> Result<bool, String> {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .map_err(|e| format!("/proc/self: {e}"))
}

/// A new directory for one server, owned by `owner`; the watching shell deletes it.
fn server_dir(owner: Option<(u32, u32)>) -> Result<PathBuf, String> {
    let dir = tempfile::Builder::new()
        .prefix("bk-server-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?
        .keep();
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
            .map_err(|e| format!("chown {}: {e}", dir.display()))?;
    }
    Ok(dir)
}

/// Copies `from` to `dir/name`, owned by `owner`, readable by it alone (a server refuses a
/// private key others can read).
fn install(
    from: &Path,
    dir: &Path,
    name: &str,
    owner: Option<(u32, u32)>,
) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let to = dir.join(name);
    std::fs::copy(from, &to).map_err(|e| format!("copy {}: {e}", from.display()))?;
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("chmod {}: {e}", to.display()))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&to, Some(uid), Some(gid))
            .map_err(|e| format!("chown {}: {e}", to.display()))?;
    }
    Ok(to)
}

/// A free port of 127.0.0.1 (free when asked; the server binds it right after).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// Runs `program args` to completion (as `owner`, in `dir`: the test's working directory
/// may be one `owner` cannot enter), its output in the error.
fn run(
    program: &Path,
    args: &[String],
    dir: &Path,
    owner: Option<(u32, u32)>,
) -> Result<(), String> {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed ({}): {}{}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Starts `program args` (as `owner`) under a shell that stops it with `signal` and deletes
/// `dir` when its standard input closes (the test process ended), its output going to
/// `dir/server.log`; then waits (bounded) until the log shows `ready`.
fn spawn_watched(
    program: &Path,
    args: &[String],
    dir: &Path,
    signal: &str,
    ready: &str,
    owner: Option<(u32, u32)>,
) -> Result<ChildStdin, String> {
    const WATCH: &str = r#"dir=$1; sig=$2; shift 2
"$@" >"$dir/server.log" 2>&1 </dev/null &
pid=$!
read _
kill -s "$sig" "$pid"
wait "$pid"
rm -rf "$dir""#;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(WATCH)
        .arg("sh")
        .arg(dir)
        .arg(signal)
        .arg(program)
        .args(args)
        // Not the test's working directory, which `owner` may not be able to enter.
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let guard = child.stdin.take().ok_or("no pipe to the watching shell")?;
    let log = dir.join("server.log");
    let deadline = Instant::now() + START_LIMIT;
    loop {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&log) {
            let _ = f.read_to_string(&mut text);
        }
        if text.contains(ready) {
            return Ok(guard);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} not ready within {START_LIMIT:?}; its log:\n{text}",
                program.display()
            ));
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{} exited ({status}); its log:\n{text}",
                program.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The newest PostgreSQL's binaries directory.
fn postgres_bin() -> Result<PathBuf, String> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("no PostgreSQL binaries in /usr/lib/postgresql: {e}"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("postgres").exists() && bin.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "no PostgreSQL binaries in /usr/lib/postgresql/*/bin".to_string())
}

fn start_postgres(tls: Tls) -> Result<Server, String> {
    let bin = postgres_bin()?;
    let owner = run_as("postgres")?;
    let dir = server_dir(owner)?;
    removed_on_error(&dir, start_postgres_in(&bin, &dir, owner, tls))
}

/// `started`, deleting `dir` when it failed (once started, the watching shell deletes it).
fn removed_on_error(dir: &Path, started: Result<Server, String>) -> Result<Server, String> {
    if started.is_err() {
        let _ = std::fs::remove_dir_all(dir);
    }
    started
}

fn start_postgres_in(
    bin: &Path,
    dir: &Path,
    owner: Option<(u32, u32)>,
    tls: Tls,
) -> Result<Server, String> {
    let data = dir.join("data");
    let s = |p: &Path| p.display().to_string();
    run(
        &bin.join("initdb"),
        &[
            "-D".into(),
            s(&data),
            "-U".into(),
            "postgres".into(),
            "-A".into(),
            "trust".into(),
            "-E".into(),
            "UTF8".into(),
            "--no-sync".into(),
            "--no-instructions".into(),
        ],
        dir,
        owner,
    )?;
    let port = free_port()?;
    let mut args = vec![
        "-D".into(),
        s(&data),
        "-c".into(),
        "listen_addresses=127.0.0.1".into(),
        "-c".into(),
        format!("port={port}"),
        "-c".into(),
        format!("unix_socket_directories={}", s(dir)),
        "-c".into(),
        "fsync=off".into(),
    ];
    if tls == Tls::On {
        let c = certs();
        let cert = install(&c.server_cert, dir, "server.crt", owner)?;
        let key = install(&c.server_key, dir, "server.key", owner)?;
        let ca = install(&c.ca, dir, "ca.pem", owner)?;
        // The client-certificate user authenticates by its certificate alone; every
        // other user is trusted, as on the shared test server.
        let hba = data.join("pg_hba.conf");
        let trust = std::fs::read_to_string(&hba).map_err(|e| format!("{}: {e}", s(&hba)))?;
        let cert_line = format!("hostssl all {CERT_USER} 127.0.0.1/32 cert\n");
        std::fs::write(&hba, format!("{cert_line}{trust}"))
            .map_err(|e| format!("{}: {e}", s(&hba)))?;
        args.extend([
            "-c".into(),
            "ssl=on".into(),
            "-c".into(),
            format!("ssl_cert_file={}", s(&cert)),
            "-c".into(),
            format!("ssl_key_file={}", s(&key)),
            "-c".into(),
            format!("ssl_ca_file={}", s(&ca)),
        ]);
    } else {
        args.extend(["-c".into(), "ssl=off".into()]);
    }
    // SIGQUIT: PostgreSQL's immediate shutdown (its data is thrown away).
    let guard = spawn_watched(
        &bin.join("postgres"),
        &args,
        dir,
        "QUIT",
        "database system is ready to accept connections",
        owner,
    )?;
    Ok(Server {
        kind: Kind::Postgres,
        port,
        tls,
        _guard: Mutex::new(guard),
    })
}

/// A program on the `PATH` or in `/usr/sbin` (not on a non-root user's `PATH`), by the
/// first of `names` found.
fn find_program(names: &[&str]) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .collect();
    names
        .iter()
        .flat_map(|n| dirs.iter().map(move |d| d.join(n)))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("none of {names:?} found on the PATH or in /usr/sbin"))
}

fn start_mariadb(tls: Tls) -> Result<Server, String> {
    let install_db = find_program(&["mariadb-install-db", "mysql_install_db"])?;
    let mariadbd = find_program(&["mariadbd", "mysqld"])?;
    let dir = server_dir(None)?;
    removed_on_error(&dir, start_mariadb_in(&install_db, &mariadbd, &dir, tls))
}

fn start_mariadb_in(
    install_db: &Path,
    mariadbd: &Path,
    dir: &Path,
    tls: Tls,
) -> Result<Server, String> {
    let root = is_root()?;
    let data = dir.join("data");
    // A temp dir of its own: two servers bootstrapping at once in the same one clash
    // (`Unknown table 'mysql.tmp_user_sys'`).
    let tmp = dir.join("tmp");
    std::fs::create_dir(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let s = |p: &Path| p.display().to_string();
    let mut install_args = vec![
        "--no-defaults".into(),
        format!("--datadir={}", s(&data)),
        format!("--tmpdir={}", s(&tmp)),
        "--auth-root-authentication-method=normal".into(),
        "--skip-test-db".into(),
    ];
    let mut args = vec![
        "--no-defaults".into(),
        format!("--datadir={}", s(&data)),
        format!("--tmpdir={}", s(&tmp)),
        "--bind-address=127.0.0.1".into(),
        format!("--socket={}", s(&dir.join("mysqld.sock"))),
        format!("--pid-file={}", s(&dir.join("mysqld.pid"))),
        "--skip-log-bin".into(),
        "--innodb-buffer-pool-size=16M".into(),
    ];
    if root {
        install_args.push("--user=root".into());
        args.push("--user=root".into());
    }
    run(install_db, &install_args, dir, None)?;
    let port = free_port()?;
    args.push(format!("--port={port}"));
    if tls == Tls::On {
        let c = certs();
        args.extend([
            format!(
                "--ssl-cert={}",
                s(&install(&c.server_cert, dir, "server.crt", None)?)
            ),
            format!(
                "--ssl-key={}",
                s(&install(&c.server_key, dir, "server.key", None)?)
            ),
            format!("--ssl-ca={}", s(&install(&c.ca, dir, "ca.pem", None)?)),
        ]);
    } else {
        args.push("--skip-ssl".into());
    }
    // SIGKILL: its data is thrown away, nothing to shut down cleanly.
    let guard = spawn_watched(mariadbd, &args, dir, "KILL", "ready for connections", None)?;
    Ok(Server {
        kind: Kind::MariaDb,
        port,
        tls,
        _guard: Mutex::new(guard),
    })
}
