//! `TCP_NODELAY` on the pool's TCP connections to PostgreSQL and MySQL/MariaDB.
//!
//! sqlx 0.9.0 no longer sets it (upstream issue transact-rs/sqlx#4335, fixed after that
//! release), so a small message written while the previous one is unacknowledged waits for
//! the server's delayed ACK (about 40 ms on Linux): the `CopyDone` that ends a `COPY`, and
//! the TLS records of a statement. sqlx gives no access to a connection's socket, so each new
//! connection asks the server for its two ports (the client's and the server's, as the server
//! sees them) and the process's one TCP socket with those ports gets the option: found under
//! `/proc/self/fd`, duplicated with `pidfd_getfd` (a descriptor of its own, so nothing is
//! borrowed from sqlx), set, and the duplicate closed. Linux only; elsewhere, behind a proxy
//! or NAT that changes the ports, or where a sandbox refuses `pidfd_getfd` (Linux before 5.6,
//! some seccomp profiles), the connection is used as it is and a debug event says why.

use sqlx::{MySqlConnection, PgConnection};

/// The query that gives a PostgreSQL session's ports as the server sees them: the
/// client's, then the server's (`NULL` over a Unix socket).
const PG_PORTS: &str = "SELECT inet_client_port(), inet_server_port()";

/// The query that gives a MySQL/MariaDB session's ports: its `HOST` is `address:port` over
/// TCP (no port over a Unix socket), and the server's port.
const MYSQL_PORTS: &str = "SELECT HOST, CAST(@@port AS SIGNED) FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()";

/// Sets `TCP_NODELAY` on a new PostgreSQL connection (a no-op over a Unix socket). A server
/// that cannot answer the ports query (a PostgreSQL-compatible one without
/// `inet_client_port()`) leaves the connection as it is: a debug event says so.
pub(super) async fn set_pg(conn: &mut PgConnection) {
    match sqlx::query_as::<_, (Option<i32>, Option<i32>)>(PG_PORTS)
        .fetch_one(&mut *conn)
        .await
    {
        Ok((Some(client), Some(server))) => apply(client, server),
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "TCP_NODELAY not set: the ports query failed"),
    }
}

/// Sets `TCP_NODELAY` on a new MySQL/MariaDB connection (a no-op over a Unix socket); a
/// failed ports query leaves the connection as it is, as [`set_pg`].
pub(super) async fn set_mysql(conn: &mut MySqlConnection) {
    let row = match sqlx::query_as::<_, (String, i64)>(MYSQL_PORTS)
        .fetch_optional(&mut *conn)
        .await
    {
        Ok(row) => row,
        Err(e) => {
            tracing::debug!(error = %e, "TCP_NODELAY not set: the ports query failed");
            return;
        }
    };
    let client = row
        .as_ref()
        .and_then(|(host, _)| host.rsplit_once(':'))
        .and_then(|(_, port)| port.parse::<i32>().ok());
    if let (Some(client), Some((_, server))) = (client, row) {
        apply(client, i32::try_from(server).unwrap_or(-1));
    }
}

/// Sets the option on the socket with these ports, reporting a failure as a debug event.
fn apply(client: i32, server: i32) {
    let (Ok(client), Ok(server)) = (u16::try_from(client), u16::try_from(server)) else {
        return;
    };
    match set_on(client, server) {
        Ok(true) => {}
        Ok(false) => tracing::debug!(
            client,
            server,
            "TCP_NODELAY not set: no single socket of this process has these ports"
        ),
        Err(e) => tracing::debug!(client, server, error = %e, "TCP_NODELAY not set"),
    }
}

/// Sets `TCP_NODELAY` on the process's one TCP socket whose local port is `local` and whose
/// peer's port is `peer`: `Ok(true)` when set, `Ok(false)` when there is no such socket or
/// more than one.
#[cfg(target_os = "linux")]
pub(crate) fn set_on(local: u16, peer: u16) -> std::io::Result<bool> {
    match find(local, peer)? {
        Some(fd) => {
            rustix::net::sockopt::set_tcp_nodelay(&fd, true)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Not Linux: nothing is set.
#[cfg(not(target_os = "linux"))]
pub(crate) fn set_on(_local: u16, _peer: u16) -> std::io::Result<bool> {
    Ok(false)
}

/// Whether the process's one TCP socket with these ports has `TCP_NODELAY` set (`None`: no
/// single such socket).
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn is_set(local: u16, peer: u16) -> std::io::Result<Option<bool>> {
    match find(local, peer)? {
        Some(fd) => Ok(Some(rustix::net::sockopt::tcp_nodelay(&fd)?)),
        None => Ok(None),
    }
}

/// A duplicate of the process's one socket whose local port is `local` and whose peer's
/// port is `peer`, if exactly one socket has them.
#[cfg(target_os = "linux")]
fn find(local: u16, peer: u16) -> std::io::Result<Option<rustix::fd::OwnedFd>> {
    use std::net::SocketAddr;
    use std::os::unix::ffi::OsStrExt;

    use rustix::process::{PidfdFlags, PidfdGetfdFlags, getpid, pidfd_getfd, pidfd_open};

    let port = |a: Option<rustix::net::SocketAddrAny>| {
        a.and_then(|a| SocketAddr::try_from(a).ok())
            .map(|a| a.port())
    };
    let me = pidfd_open(getpid(), PidfdFlags::empty())?;
    // The socket found (its `socket:[inode]` link) and a duplicate of it; a second
    // descriptor of the same socket (the duplicate itself, listed while reading) is no
    // second socket.
    let mut found: Option<(std::path::PathBuf, rustix::fd::OwnedFd)> = None;
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let entry = entry?;
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(link) = std::fs::read_link(entry.path()) else {
            continue; // closed since the listing
        };
        if !link.as_os_str().as_bytes().starts_with(b"socket:") {
            continue;
        }
        if found.as_ref().is_some_and(|(l, _)| *l == link) {
            continue;
        }
        let dup = match pidfd_getfd(&me, fd, PidfdGetfdFlags::empty()) {
            Ok(dup) => dup,
            Err(rustix::io::Errno::BADF) => continue, // closed since the listing
            Err(e) => return Err(e.into()),
        };
        let ours = port(rustix::net::getsockname(&dup).ok()) == Some(local)
            && port(rustix::net::getpeername(&dup).ok().flatten()) == Some(peer);
        if ours {
            if found.is_some() {
                return Ok(None);
            }
            found = Some((link, dup));
        }
    }
    Ok(found.map(|(_, fd)| fd))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::Db;

    /// The ports of one pooled connection, read on that connection, and whether its socket
    /// has the option.
    async fn pooled_socket_has_nodelay(db: &Db) -> Option<bool> {
        match db {
            Db::Postgres(pool, _) => {
                let mut conn = pool.acquire().await.expect("acquire");
                let (client, server): (i32, i32) = sqlx::query_as(PG_PORTS)
                    .fetch_one(&mut *conn)
                    .await
                    .expect("ports");
                is_set(client as u16, server as u16).expect("inspect the socket")
            }
            Db::MySql(pool) => {
                let mut conn = pool.acquire().await.expect("acquire");
                let (host, server): (String, i64) = sqlx::query_as(MYSQL_PORTS)
                    .fetch_one(&mut *conn)
                    .await
                    .expect("ports");
                let client: u16 = host
                    .rsplit_once(':')
                    .expect("a TCP host")
                    .1
                    .parse()
                    .expect("port");
                is_set(client, server as u16).expect("inspect the socket")
            }
            _ => None,
        }
    }

    async fn check(var: &str) {
        let Ok(url) = std::env::var(var) else {
            eprintln!("{var} not set: skipped");
            return;
        };
        let db = Db::connect(&url).await.expect("connect");
        assert_eq!(pooled_socket_has_nodelay(&db).await, Some(true), "{url}");
        db.close().await;
    }

    #[tokio::test]
    async fn postgres_pool_connections_have_tcp_nodelay() {
        check("BULKINUP_TEST_PG_URL").await;
    }

    #[tokio::test]
    async fn postgres_pool_connections_have_tcp_nodelay_without_tls() {
        let Ok(url) = std::env::var("BULKINUP_TEST_PG_URL") else {
            return;
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        let db = Db::connect(&format!("{url}{sep}sslmode=disable"))
            .await
            .expect("connect");
        assert_eq!(pooled_socket_has_nodelay(&db).await, Some(true));
        db.close().await;
    }

    #[tokio::test]
    async fn mysql_pool_connections_have_tcp_nodelay() {
        check("BULKINUP_TEST_MYSQL_URL").await;
    }

    /// The check reads the real option: a socket of the test's own to the same server,
    /// without the option, is seen without it.
    #[test]
    fn a_socket_of_our_own_without_the_option_is_seen_without_it() {
        let Ok(url) = std::env::var("BULKINUP_TEST_PG_URL") else {
            return;
        };
        let url = url::Url::parse(&url).expect("url");
        let host = url.host_str().expect("host");
        let stream =
            std::net::TcpStream::connect((host, url.port().unwrap_or(5432))).expect("connect");
        let (local, peer) = (
            stream.local_addr().expect("local").port(),
            stream.peer_addr().expect("peer").port(),
        );
        assert_eq!(is_set(local, peer).expect("inspect"), Some(false));
        assert!(set_on(local, peer).expect("set"));
        assert!(stream.nodelay().expect("nodelay"));
    }

    #[test]
    fn no_socket_with_these_ports_sets_nothing() {
        assert!(!set_on(1, 1).expect("scan"));
    }
}
