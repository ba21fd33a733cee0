//! What the tests of concurrent imports share (library and command line): the items of two
//! imports that take shared rows in opposite orders, and a lock holder for PostgreSQL and
//! MariaDB/MySQL — a transaction on its own connection that takes row locks when the test
//! says, so that a test closes a lock cycle with a running call at a moment it chooses: a
//! deadlock on demand, not by chance.
//!
//! The database ends a deadlock by rolling back one of its transactions. The holder makes
//! sure it is the call's: on PostgreSQL the session that waited longest runs the check
//! (`deadlock_timeout`) and fails, which is the call, blocked first; on MariaDB InnoDB rolls
//! back the lighter transaction, and the holder first writes [`WEIGHT`] rows.

use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, MySqlConnection, PgConnection};

use serde_json::{Value as J, json};

use super::{Kind, TestDb};

/// Rows the holder writes into a scratch table on MariaDB/MySQL, to be the heavier
/// transaction of a deadlock.
pub const WEIGHT: usize = 2000;

/// How often [`Holder::wait_until_blocking`] asks: less often than every 100 ms, or InnoDB
/// never refreshes the cache behind `information_schema.INNODB_TRX` and `INNODB_LOCK_WAITS`.
const POLL: Duration = Duration::from_millis(250);

/// The longest [`Holder::wait_until_blocking`] waits.
const WAIT_LIMIT: Duration = Duration::from_secs(60);

enum Conn {
    Pg(PgConnection),
    MySql(MySqlConnection),
}

/// A transaction on its own connection to the test's database.
pub struct Holder {
    conn: Conn,
    /// The server's id of the holder's session (PostgreSQL backend pid, MySQL connection id).
    session: i64,
}

impl Holder {
    /// Connects to the test's database and begins a transaction; on MariaDB/MySQL the
    /// transaction first writes [`WEIGHT`] rows into a scratch table.
    pub async fn begin(t: &TestDb) -> Holder {
        let mut holder = match t.kind {
            Kind::Postgres => {
                let mut c = PgConnection::connect(&t.url)
                    .await
                    .expect("holder connects");
                let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                    .fetch_one(&mut c)
                    .await
                    .expect("pg_backend_pid()");
                Holder {
                    conn: Conn::Pg(c),
                    session: i64::from(pid),
                }
            }
            Kind::MySql => {
                let mut c = MySqlConnection::connect(&t.url)
                    .await
                    .expect("holder connects");
                let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
                    .fetch_one(&mut c)
                    .await
                    .expect("CONNECTION_ID()");
                Holder {
                    conn: Conn::MySql(c),
                    session: i64::try_from(id).expect("a connection id fits i64"),
                }
            }
            Kind::Sqlite => panic!("SQLite has no row locks to hold"),
        };
        if t.kind == Kind::MySql {
            holder
                .execute("CREATE TABLE IF NOT EXISTS holder_weight (n BIGINT NOT NULL)")
                .await;
        }
        holder.execute("BEGIN").await;
        if t.kind == Kind::Postgres {
            // The holder never looks for the deadlock first: the call does, after its
            // session's `deadlock_timeout` ([`victim_url`]), and is the one rolled back.
            holder.execute("SET LOCAL deadlock_timeout = '120s'").await;
        }
        if t.kind == Kind::MySql {
            let values: Vec<String> = (0..WEIGHT).map(|n| format!("({n})")).collect();
            holder
                .execute(&format!(
                    "INSERT INTO holder_weight (n) VALUES {}",
                    values.join(", ")
                ))
                .await;
        }
        holder
    }

    /// Runs `sql` in the holder's transaction (it may wait for locks); panics on an error.
    pub async fn execute(&mut self, sql: &str) {
        let q = sqlx::raw_sql(AssertSqlSafe(sql.to_string()));
        let done = match &mut self.conn {
            Conn::Pg(c) => q.execute(c).await.map(drop),
            Conn::MySql(c) => q.execute(c).await.map(drop),
        };
        done.unwrap_or_else(|e| panic!("holder: {sql}: {e}"));
    }

    /// The server's id of the holder's session (PostgreSQL backend pid, MySQL connection id).
    pub fn session(&self) -> i64 {
        self.session
    }

    /// Commits the holder's transaction.
    pub async fn commit(mut self) {
        self.execute("COMMIT").await;
    }

    /// Waits until another session waits for a lock the holder holds (bounded: panics after
    /// a minute), asking the server on the test's own connection.
    pub async fn wait_until_blocking(&self, t: &TestDb) {
        let sql = match t.kind {
            Kind::Postgres => format!(
                "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE {} = ANY(pg_blocking_pids(pid))",
                self.session
            ),
            _ => format!(
                "SELECT COUNT(*) AS n FROM information_schema.INNODB_LOCK_WAITS w
                 JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id
                 WHERE b.trx_mysql_thread_id = {}",
                self.session
            ),
        };
        let start = Instant::now();
        let waiting = || async {
            let rows = t.db.fetch_json(&sql).await.expect("lock waits query");
            rows.first()
                .and_then(|r| r.get("n"))
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0)
        };
        while waiting().await == 0 {
            assert!(
                start.elapsed() < WAIT_LIMIT,
                "no session waited for the holder's locks within {WAIT_LIMIT:?}"
            );
            // InnoDB refreshes its lock tables only when nobody read them for 100 ms.
            tokio::time::sleep(POLL).await;
        }
    }
}

/// The items of one side of a round: 40 authors, one post each, in 4 chunks of 10. Chunk k
/// of side 0 links tag group k (10 tags), side 1 takes the groups in the opposite order and
/// lists each post's tags in descending order: whatever order each statement's rows are in,
/// the two calls take the groups' locks in opposite orders, so they deadlock unless retried.
pub fn side_items(side: i64, round: i64) -> Vec<J> {
    (0..40)
        .map(|a| {
            let id = round * 1000 + side * 100 + a + 1;
            let group = if side == 0 { a / 10 } else { 3 - a / 10 };
            let mut tags: Vec<i64> = (group * 10 + 1..=group * 10 + 10).collect();
            if side == 1 {
                tags.reverse();
            }
            let tags: Vec<J> = tags
                .iter()
                .map(|g| json!({"id": g, "name": format!("t{g} r{round} s{side}")}))
                .collect();
            json!({"id": id, "name": format!("A{id}"),
                   "posts": [{"id": id, "author_id": id, "title": "x", "tags": tags}]})
        })
        .collect()
}

/// The blog items of the deadlock tests: an author whose post links tags 2 and 1 (written
/// in key order: 1, then 2), and an invalid author (no name).
pub fn deadlock_items() -> Vec<J> {
    vec![
        json!({"id": 1, "name": "A", "posts": [{"id": 1, "author_id": 1, "title": "x",
            "tags": [{"id": 2, "name": "two"}, {"id": 1, "name": "one"}]}]}),
        json!({"id": 2}),
    ]
}

/// The URL the deadlocked call connects with. On PostgreSQL the session that finds a
/// deadlock is the one rolled back, and each waiting session looks once, `deadlock_timeout`
/// after it started waiting (1 s by default): on a loaded machine the holder's second
/// statement can come later than that, and the holder would find the cycle and be rolled
/// back instead. So the call's session looks after 10 s — long after the holder has closed
/// the cycle — and the holder's not at all ([`Holder::begin`]). Elsewhere: the test's URL.
pub fn victim_url(t: &TestDb) -> String {
    if t.kind != Kind::Postgres {
        return t.url.clone();
    }
    let option = "-c%20deadlock_timeout%3D10s";
    match t.url.split_once("options=") {
        Some((before, after)) => format!("{before}options={option}%20{after}"),
        None => {
            let sep = if t.url.contains('?') { '&' } else { '?' };
            format!("{}{sep}options={option}", t.url)
        }
    }
}

/// Tags 1 and 2 exist, and a holder transaction has locked tag 2.
pub async fn hold_tag_2(t: &TestDb) -> Holder {
    t.db.execute_script("INSERT INTO tags (id, name) VALUES (1, 't1'), (2, 't2')")
        .await
        .expect("seed tags");
    let mut holder = Holder::begin(t).await;
    holder
        .execute("UPDATE tags SET name = 'held' WHERE id = 2")
        .await;
    holder
}

/// Once the call waits for tag 2 (holding tag 1), the holder asks for tag 1: a deadlock, in
/// which the database rolls back the call. The holder then commits.
pub async fn close_the_cycle(t: &TestDb, mut holder: Holder) {
    holder.wait_until_blocking(t).await;
    holder
        .execute("UPDATE tags SET name = 'held' WHERE id = 1")
        .await;
    holder.commit().await;
}
