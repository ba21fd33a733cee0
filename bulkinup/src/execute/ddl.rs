//! Running the statements of [`crate::ddl`] in one transaction, each bounded like a
//! statement of a call.

use sqlx::{Database, Executor, Pool};

use super::deadline::{self, Deadline, Held};
use crate::dialect::{Backend, DdlStatement, trusted_sql};
use crate::error::Result;

/// Runs `statements` in order in one transaction on a connection of `pool`, within
/// `deadline` — the call's, started before its catalog reads, so that what remains of
/// `timeout` bounds the whole, and `statement_timeout` each statement (the `BEGIN` and the
/// commit included) — and commits. A failure rolls back what the database can roll back
/// (PostgreSQL and SQLite: everything; MySQL/MariaDB commit each DDL statement on its own).
pub(crate) async fn apply<B>(
    pool: &Pool<B::DB>,
    statements: &[DdlStatement],
    deadline: &Deadline,
) -> Result<()>
where
    B: Backend,
    for<'e> &'e mut <B::DB as Database>::Connection: Executor<'e, Database = B::DB>,
{
    let dialect = B::default();
    let mut conn = Held::acquire(pool, &dialect, deadline).await?;
    let mut tx = deadline::begin::<B>(&mut conn, deadline).await?;
    for s in statements {
        deadline.check(Some(&s.object))?;
        deadline
            .statement(
                &dialect,
                Some(&s.object),
                (&mut *tx).execute(sqlx::raw_sql(trusted_sql(s.sql.as_str()))),
            )
            .await?;
    }
    deadline::commit::<B>(tx, deadline).await
}
