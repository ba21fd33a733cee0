//! The deadline of a transaction (`timeout`), and the transaction it bounds: begun with the
//! database's own per-statement limit, committed only while the deadline holds.

use std::time::Duration;

use sqlx::{Database, Executor, Pool, Transaction};

use crate::dialect::{Backend, trusted_sql};
use crate::error::{Error, Result};

/// The end of the time a transaction may take. The limit is enforced without ever
/// dropping a statement in flight (which would leave the connection mid-protocol): it is
/// checked before each statement and before the commit, and each statement is bounded by the
/// database itself where it can (PostgreSQL `statement_timeout`, MariaDB
/// `max_statement_time`), whose cancellation is reported as a timeout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    limit: Option<(Duration, tokio::time::Instant)>,
}

impl Deadline {
    /// A deadline `limit` from now (`None`: never).
    pub(crate) fn start(limit: Option<Duration>) -> Self {
        Deadline {
            limit: limit.map(|l| (l, tokio::time::Instant::now() + l)),
        }
    }

    /// An error if the limit has passed.
    pub(crate) fn check(&self, table: Option<&str>) -> Result<()> {
        match self.limit {
            Some((limit, end)) if tokio::time::Instant::now() > end => Err(Error::Timeout {
                seconds: limit.as_secs_f64(),
                table: table.map(str::to_string),
            }),
            _ => Ok(()),
        }
    }
}

/// Begins a transaction bounded by `limit`: its deadline starts now, and the database's own
/// per-statement limit is set for it. An error drops the transaction, which rolls back.
pub(super) async fn begin<B>(
    pool: &Pool<B::DB>,
    limit: Option<Duration>,
) -> Result<(Transaction<'static, B::DB>, Deadline)>
where
    B: Backend,
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
{
    let mut tx = pool.begin().await.map_err(|e| Error::database(None, e))?;
    let deadline = Deadline::start(limit);
    let dialect = B::default();
    if let Some(sql) = dialect.statement_timeout_sql(limit) {
        let r = (&mut *tx).execute(sqlx::raw_sql(trusted_sql(sql))).await;
        if let Err(e) = r
            && !dialect.statement_timeout_optional()
        {
            return Err(Error::database(None, e));
        }
    }
    Ok((tx, deadline))
}

/// Commits a transaction if its deadline has not passed. The limit covers the writes; the
/// commit is outside it, so that a call reported as timed out is never committed.
pub(super) async fn commit<DB: Database>(
    tx: Transaction<'static, DB>,
    deadline: Deadline,
) -> Result<()> {
    deadline.check(None)?;
    tx.commit().await.map_err(|e| Error::database(None, e))
}
