//! Finding the items the database refuses. Each chunk is written inside a savepoint. When
//! the database refuses a row of it — a constraint violation, a value it does not accept
//! ([`refuses_row`]) — the chunk is rolled back to its savepoint and its valid items are
//! planned and written again in halves, each half in its own savepoint, down to the single
//! items whose rows the database refuses (as pgloader bisects a failing batch). The error
//! then names that item ([`Error::with_item`]): its file and line, its primary key.
//!
//! With `on_error` = `rollback` (the default) the first such item fails the call with its
//! error. With `reject` every such item is set aside ([`Rejected`]) and the other items of
//! the chunk stay written. A failure that is not about a row (a lost connection, a
//! timeout, a missing table or permission) is returned as it is, whatever `on_error` says.
//!
//! Cost: one `SAVEPOINT` and one `RELEASE SAVEPOINT` per chunk on a clean load; on a
//! refused row, about two statements' worth of writes per halving (`log2(chunk_size)`
//! halvings per refused item).

use std::future::Future;
use std::pin::Pin;

use sqlx::{Connection, Database, Executor, Transaction};

use super::producer::{Caster, Chunk};
use super::writer::Writer;
use crate::dialect::Backend;
use crate::error::{Error, Result};
use crate::item::Item;
use crate::options::{OnError, Rejected};
use crate::plan::Batch;

/// Whether an error is the database refusing a row of the statement (so that the item
/// behind it can be found and, with `on_error` = `reject`, set aside): a constraint
/// violation of any kind sqlx classifies, a value the driver cannot encode, or one of the
/// dialect's codes for a value the database does not accept
/// ([`Dialect::refuses_row`](crate::dialect::Dialect::refuses_row)).
pub(super) fn refuses_row<B: Backend>(error: &Error) -> bool {
    let Error::Database {
        kind, code, source, ..
    } = error
    else {
        return false;
    };
    *kind != crate::error::DbErrorKind::Other
        || matches!(**source, sqlx::Error::Encode(_))
        || code
            .as_deref()
            .is_some_and(|c| B::default().refuses_row(c, source))
}

/// A boxed future of the isolation's recursion.
type Step<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

impl<B: Backend + Send + Sync> Writer<B>
where
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
    <B::DB as Database>::Arguments: sqlx::IntoArguments<B::DB>,
    B::DB: sqlx::database::HasStatementCache,
{
    /// Writes a chunk inside a savepoint and, when the database refuses a row of it, finds
    /// the items behind it (the module docs). Returns the items set aside (`on_error` =
    /// `reject`); with `rollback`, the first refused item's error.
    pub(super) async fn write_chunk(
        &mut self,
        tx: &mut Transaction<'_, B::DB>,
        chunk: Chunk,
        caster: &Caster,
    ) -> Result<Vec<Rejected>> {
        let Some(error) = self.attempt(tx, chunk.batches).await? else {
            return Ok(Vec::new());
        };
        let on_error = caster.resolved().options.on_error;
        let mut rejected = Vec::new();
        let mut items = chunk.items;
        if items.len() <= 1 {
            return match items.pop() {
                Some(item) => {
                    self.refused(item, error, caster, on_error, &mut rejected)?;
                    Ok(rejected)
                }
                None => Err(error),
            };
        }
        self.halves(tx, items, caster, on_error, &mut rejected)
            .await?;
        match on_error {
            // Written item by item, every part was accepted: the failure needed the whole
            // chunk at once. The call fails with the database's error as it came.
            OnError::Rollback => Err(error),
            _ => Ok(rejected),
        }
    }

    /// Writes each half of `items` in its own savepoint, isolating further in a half the
    /// database refuses.
    fn halves<'a>(
        &'a mut self,
        tx: &'a mut Transaction<'_, B::DB>,
        mut items: Vec<Item>,
        caster: &'a Caster,
        on_error: OnError,
        rejected: &'a mut Vec<Rejected>,
    ) -> Step<'a> {
        Box::pin(async move {
            let second = items.split_off(items.len() / 2);
            for mut half in [items, second] {
                if half.is_empty() {
                    continue;
                }
                let Some(error) = self.attempt(tx, caster.plan(&half)).await? else {
                    continue;
                };
                match (half.len(), half.pop()) {
                    (1, Some(item)) => self.refused(item, error, caster, on_error, rejected)?,
                    (_, Some(last)) => {
                        half.push(last);
                        self.halves(tx, half, caster, on_error, rejected).await?;
                    }
                    (_, None) => {}
                }
            }
            Ok(())
        })
    }

    /// One item the database refused on its own: the call's error (`rollback`), or set
    /// aside (`reject`).
    fn refused(
        &self,
        item: Item,
        error: Error,
        caster: &Caster,
        on_error: OnError,
        rejected: &mut Vec<Rejected>,
    ) -> Result<()> {
        let error = error.with_item(caster.item_ref(&item));
        match on_error {
            OnError::Reject => {
                rejected.push(Rejected { item, error });
                Ok(())
            }
            _ => Err(error),
        }
    }

    /// Writes `batches` inside a savepoint: `None` when they were written (the savepoint
    /// released), the database's error when it refused a row (rolled back to the savepoint,
    /// the counts as before), any other failure as an error.
    async fn attempt(
        &mut self,
        tx: &mut Transaction<'_, B::DB>,
        batches: Vec<Batch>,
    ) -> Result<Option<Error>> {
        let counts = self.counts.clone();
        self.deadline.check(None)?;
        let mut savepoint = self
            .deadline
            .statement(&self.dialect, None, (**tx).begin())
            .await?;
        match self.write_all(&mut savepoint, batches).await {
            Ok(()) => {
                self.deadline
                    .statement(&self.dialect, None, savepoint.commit())
                    .await?;
                Ok(None)
            }
            Err(e) if refuses_row::<B>(&e) => {
                self.deadline
                    .statement(&self.dialect, None, savepoint.rollback())
                    .await?;
                self.counts = counts;
                Ok(Some(e))
            }
            Err(e) => Err(e),
        }
    }
}
