//! The deadlines of a call, enforced on the client's clock: the end of the transaction
//! (`timeout`) and the limit of each statement (`statement_timeout`), and the connection
//! they bound — acquired from the pool by the call itself, so that one left mid-protocol by
//! an abandoned statement (or a call dropped by its caller) is closed instead of going back
//! to the pool.
//!
//! Each statement (the `BEGIN`, every write, the commit, a prefix check) may wait at most
//! `min(statement_timeout, what remains of timeout)`. The database is told the statement
//! limit where it has one (PostgreSQL `statement_timeout`, MariaDB `max_statement_time`,
//! SQLite's busy wait), so that it frees its resources and answers with its own reason; the
//! client does not rely on it: on a network database, a statement without an answer when
//! its limit has passed (plus a grace for the server's own cancellation to arrive) is
//! dropped, its connection is closed, and the call fails with [`Error::Timeout`].
//!
//! Queries that run on their own, outside any transaction — the catalog's reads of schema
//! inference and checks, `Db::fetch_json_within`, `Db::execute_script_within` — are bounded
//! the same way on the client's clock ([`Deadline::queries`]: one `timeout` for all of them,
//! `statement_timeout` for each); the database is not told their limit. The catalog reads
//! `apply_ddl` makes before its transaction count against that transaction's `timeout`
//! ([`Deadline::for_queries`]).

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Connection, Database, Executor, Pool, Transaction};
use tokio::time::Instant;

use crate::dialect::{Backend, Dialect, trusted_sql};
use crate::error::{Error, Result, Waited};

/// The most a statement waits past its own limit for the server's cancellation of it: a
/// tenth of the limit, at most this. Never past the end of `timeout`.
const MAX_GRACE: Duration = Duration::from_secs(1);

/// The limit of each statement of a call with `timeout` and `statement_timeout`, and the
/// option that sets it: the statement timeout, or the call's timeout when that is shorter
/// or the only one (`None`: no limit).
pub(crate) fn statement_limit(
    timeout: Option<Duration>,
    statement_timeout: Option<Duration>,
) -> Option<(Duration, &'static str)> {
    match (statement_timeout, timeout) {
        (Some(s), Some(c)) if c < s => Some((c, "timeout")),
        (Some(s), _) => Some((s, "statement_timeout")),
        (None, Some(c)) => Some((c, "timeout")),
        (None, None) => None,
    }
}

/// The limits of one transaction (with `max_concurrency`, of one chunk), and whether one of
/// its statements is under way (or was abandoned), which leaves the connection unusable if
/// it ends there.
#[derive(Debug, Clone)]
pub(crate) struct Deadline {
    /// `timeout`, and when it ends.
    call: Option<(Duration, Instant)>,
    /// `statement_timeout`.
    statement: Option<Duration>,
    /// Set while a statement is under way, and left set when it is abandoned: a connection
    /// dropped then is mid-protocol and must be closed.
    in_flight: Arc<AtomicBool>,
    /// What an abandoned statement (other than a commit) was waiting for:
    /// [`Waited::Answer`] in a call, [`Waited::Query`] for queries run on their own.
    abandoned: Waited,
}

/// What bounds the next statement: how long it may wait, and the limit it reports.
struct Bound {
    wait: Duration,
    seconds: f64,
    option: &'static str,
}

impl Deadline {
    /// The deadlines of a transaction that starts now: `timeout` from now for the whole of
    /// it (`None`: never), `statement_timeout` for each statement (`None`: only what remains
    /// of `timeout`).
    pub(crate) fn start(timeout: Option<Duration>, statement_timeout: Option<Duration>) -> Self {
        Deadline {
            call: timeout.and_then(|l| Instant::now().checked_add(l).map(|end| (l, end))),
            statement: statement_timeout,
            in_flight: Arc::new(AtomicBool::new(false)),
            abandoned: Waited::Answer,
        }
    }

    /// The deadlines of queries that run one after the other, each on a connection of its
    /// own and outside any transaction (the catalog reads of schema inference and checks, a
    /// bounded query of [`Db`](crate::Db)), starting now: `timeout` from now for all of
    /// them, `statement_timeout` for each. One abandoned is [`Waited::Query`].
    pub(crate) fn queries(timeout: Option<Duration>, statement_timeout: Option<Duration>) -> Self {
        Deadline {
            abandoned: Waited::Query,
            ..Deadline::start(timeout, statement_timeout)
        }
    }

    /// The same limits — the same end of `timeout`, the same `statement_timeout` — for the
    /// queries a call runs on connections of their own before its transaction (the catalog
    /// reads of `apply_ddl`): what they take counts against the call's `timeout`, and one
    /// abandoned is [`Waited::Query`].
    pub(crate) fn for_queries(&self) -> Self {
        Deadline {
            in_flight: Arc::new(AtomicBool::new(false)),
            abandoned: Waited::Query,
            ..self.clone()
        }
    }

    /// The deadline of one statement that starts now, bounded by `limit` (and reporting
    /// the option that set it) as [`statement_limit`] gives it: a check a call makes before
    /// writing (a prefix's existence).
    pub(crate) fn of_statement(limit: Option<(Duration, &'static str)>) -> Self {
        match limit {
            Some((limit, "timeout")) => Deadline::start(Some(limit), None),
            limit => Deadline::start(None, limit.map(|(limit, _)| limit)),
        }
    }

    /// An error if the call's `timeout` has passed (before a statement or the commit).
    pub(crate) fn check(&self, table: Option<&str>) -> Result<()> {
        match self.call {
            Some((limit, end)) if Instant::now() > end => Err(Error::Timeout {
                seconds: limit.as_secs_f64(),
                option: "timeout",
                table: table.map(str::to_string),
                waited: Waited::Call,
            }),
            _ => Ok(()),
        }
    }

    /// The limit of every statement, as the database is told it: the statement timeout,
    /// or the call's timeout when that is shorter or the only one (`None`: no limit).
    pub(crate) fn server_limit(&self) -> Option<Duration> {
        self.server_bound().map(|(limit, _)| limit)
    }

    /// The database's limit and the option that sets it.
    fn server_bound(&self) -> Option<(Duration, &'static str)> {
        statement_limit(self.call.map(|(c, _)| c), self.statement)
    }

    /// How long the next statement may wait on the client's clock: its own limit plus the
    /// grace, or what remains of the call's, whichever ends first.
    fn bound(&self) -> Option<Bound> {
        let own = self.statement.map(|s| Bound {
            wait: s.saturating_add((s / 10).min(MAX_GRACE)),
            seconds: s.as_secs_f64(),
            option: "statement_timeout",
        });
        let rest = self.call.map(|(limit, end)| Bound {
            wait: end.saturating_duration_since(Instant::now()),
            seconds: limit.as_secs_f64(),
            option: "timeout",
        });
        match (own, rest) {
            (Some(own), Some(rest)) if rest.wait < own.wait => Some(rest),
            (Some(own), _) => Some(own),
            (None, rest) => rest,
        }
    }

    /// Runs `statement` (a write, `BEGIN`, the commit, a check) within its bound. A
    /// statement a network database has not answered when the bound passes is dropped, the
    /// connection it ran on is left marked as mid-statement, so that it is closed ([`Held`]),
    /// and the result is an [`Error::Timeout`] ([`Waited::Answer`], [`Waited::Query`] for
    /// [`Deadline::queries`], or [`Waited::CommitAnswer`] for a commit). The mark is also
    /// what closes the connection when the caller drops the whole call mid-statement (its
    /// own timeout, say). SQLite runs
    /// in-process and is never abandoned; its lock waits end at the limit it is told. Within
    /// the bound, the driver's result as it is.
    async fn within<T, E>(
        &self,
        dialect: &dyn Dialect,
        table: Option<&str>,
        commit: bool,
        statement: impl Future<Output = std::result::Result<T, E>>,
    ) -> Result<std::result::Result<T, E>> {
        if !dialect.abandons_statements() {
            return Ok(statement.await);
        }
        self.in_flight.store(true, Ordering::Relaxed);
        let result = match self.bound() {
            None => statement.await,
            Some(bound) => match tokio::time::timeout(bound.wait, statement).await {
                Ok(result) => result,
                Err(_) => {
                    return Err(Error::Timeout {
                        seconds: bound.seconds,
                        option: bound.option,
                        table: table.map(str::to_string),
                        waited: if commit {
                            Waited::CommitAnswer
                        } else {
                            self.abandoned
                        },
                    });
                }
            },
        };
        self.in_flight.store(false, Ordering::Relaxed);
        Ok(result)
    }

    /// As [`Deadline::within`] for a query of the call's own that returns the crate's
    /// result (a catalog read on the call's transaction).
    pub(crate) async fn bounded<T>(
        &self,
        dialect: &dyn Dialect,
        table: Option<&str>,
        query: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        self.within(dialect, table, false, query).await?
    }

    /// As [`Deadline::within`] for a statement writing (or reading for) `table`, with the
    /// driver's error turned into the call's ([`Deadline::error`]).
    pub(crate) async fn statement<T>(
        &self,
        dialect: &dyn Dialect,
        table: Option<&str>,
        statement: impl Future<Output = std::result::Result<T, sqlx::Error>>,
    ) -> Result<T> {
        self.within(dialect, table, false, statement)
            .await?
            .map_err(|e| self.error(dialect, table, e))
    }

    /// A failed statement as an error: the database's own statement limit is a timeout
    /// ([`Waited::ServerLimit`]), a lock wait that ended at the limit is one too
    /// ([`Waited::Lock`]), anything else is a database error naming the table.
    pub(crate) fn error(
        &self,
        dialect: &dyn Dialect,
        table: Option<&str>,
        e: sqlx::Error,
    ) -> Error {
        let waited = match &e {
            sqlx::Error::Database(db) => db.code().and_then(|c| {
                if dialect.is_statement_timeout(&c) {
                    Some(Waited::ServerLimit)
                } else if dialect.is_lock_timeout(&c) {
                    Some(Waited::Lock)
                } else {
                    None
                }
            }),
            _ => None,
        };
        match (waited, self.server_bound()) {
            (Some(waited), Some((limit, option))) => Error::Timeout {
                seconds: limit.as_secs_f64(),
                option,
                table: table.map(str::to_string),
                waited,
            },
            _ => Error::database(table, e),
        }
    }
}

/// A connection of the pool, held for one transaction or check. Dropped while a statement
/// on it was abandoned or is under way (the caller dropped the call), it is closed —
/// detached from the pool, which opens a new one — instead of going back mid-protocol,
/// where the pool would wait on it (sqlx pings a returned connection) and a later call
/// could read a stale answer.
pub(crate) struct Held<DB: Database> {
    conn: Option<PoolConnection<DB>>,
    in_flight: Arc<AtomicBool>,
}

impl<DB: Database> Held<DB> {
    /// A connection of `pool`, waited for within the deadline's bound.
    pub(crate) async fn acquire(
        pool: &Pool<DB>,
        dialect: &dyn Dialect,
        deadline: &Deadline,
    ) -> Result<Held<DB>> {
        let conn = deadline.statement(dialect, None, pool.acquire()).await?;
        Ok(Held {
            conn: Some(conn),
            in_flight: Arc::clone(&deadline.in_flight),
        })
    }
}

impl<DB: Database> Deref for Held<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        // Present until dropped.
        self.conn.as_deref().unwrap_or_else(|| unreachable!())
    }
}

impl<DB: Database> DerefMut for Held<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        self.conn.as_deref_mut().unwrap_or_else(|| unreachable!())
    }
}

impl<DB: Database> Drop for Held<DB> {
    fn drop(&mut self) {
        if self.in_flight.load(Ordering::Relaxed)
            && let Some(conn) = self.conn.take()
        {
            // Closes the socket; the server rolls the open transaction back when it sees
            // the connection end.
            drop(conn.detach());
        }
    }
}

/// Begins a transaction on `conn`, bounded by `deadline`, and tells the database the
/// statement limit where it has one. An error drops the transaction, which rolls back.
pub(super) async fn begin<'c, B>(
    conn: &'c mut Held<B::DB>,
    deadline: &Deadline,
) -> Result<Transaction<'c, B::DB>>
where
    B: Backend,
    for<'e> &'e mut <B::DB as Database>::Connection: Executor<'e, Database = B::DB>,
{
    let dialect = B::default();
    let mut tx = deadline.statement(&dialect, None, (**conn).begin()).await?;
    if let Some(sql) = dialect.statement_timeout_sql(deadline.server_limit()) {
        let r = deadline
            .within(
                &dialect,
                None,
                false,
                (&mut *tx).execute(sqlx::raw_sql(trusted_sql(sql))),
            )
            .await?;
        if let Err(e) = r
            && !dialect.statement_timeout_optional()
        {
            return Err(Error::database(None, e));
        }
    }
    Ok(tx)
}

/// Commits a transaction if the call's timeout has not passed, bounded like a statement.
/// A commit the server does not answer in time is [`Waited::CommitAnswer`]: its outcome is
/// unknown to the client.
pub(super) async fn commit<B: Backend>(
    tx: Transaction<'_, B::DB>,
    deadline: &Deadline,
) -> Result<()> {
    deadline.check(None)?;
    let dialect = B::default();
    deadline
        .within(&dialect, None, true, tx.commit())
        .await?
        .map_err(|e| deadline.error(&dialect, None, e))
}

/// Runs a query on a connection of `pool` that is its own (not a call's transaction) and
/// decodes its rows, bounded by `deadline` like a statement: a query without an answer in
/// time is abandoned and its connection closed. For the checks a call makes before writing
/// (a prefix's existence), the catalog's reads and
/// [`Db::fetch_json_within`](crate::Db::fetch_json_within).
pub(crate) async fn fetch_json_within<B>(
    pool: &Pool<B::DB>,
    sql: &str,
    params: &[Option<&str>],
    deadline: &Deadline,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>>
where
    B: Backend,
    for<'e> &'e mut <B::DB as Database>::Connection: Executor<'e, Database = B::DB>,
    <B::DB as Database>::Arguments: sqlx::IntoArguments<B::DB>,
{
    let dialect = B::default();
    let mut conn = Held::acquire(pool, &dialect, deadline).await?;
    let query = crate::dialect::fetch_json_with::<B, _>(&mut *conn, sql, params);
    deadline.within(&dialect, None, false, query).await?
}

/// Runs SQL text as is (several statements allowed) on a connection of `pool` that is its
/// own, outside any transaction, bounded by `deadline` like a statement: a script without
/// an answer in time is abandoned and its connection closed
/// ([`Db::execute_script_within`](crate::Db::execute_script_within)).
pub(crate) async fn execute_script_within<B>(
    pool: &Pool<B::DB>,
    sql: &str,
    deadline: &Deadline,
) -> Result<()>
where
    B: Backend,
    for<'e> &'e mut <B::DB as Database>::Connection: Executor<'e, Database = B::DB>,
{
    let dialect = B::default();
    let mut conn = Held::acquire(pool, &dialect, deadline).await?;
    let script = (&mut *conn).execute(sqlx::raw_sql(trusted_sql(sql)));
    deadline.statement(&dialect, None, script).await.map(drop)
}
