//! Defaults per repo (Bulkinup's `use Bulkinup`): a handle that carries a database, a
//! registry, shared defaults and per-verb defaults.

use std::sync::Arc;

use crate::db::Db;
use crate::error::Result;
use crate::item::IntoItem;
use crate::options::{Options, Verb};
use crate::schema::Registry;
use crate::summary::Summary;

type Layer = Arc<dyn Fn(Options) -> Options + Send + Sync>;

/// A database and a registry with default options. Options are applied in layers — shared
/// defaults, then the verb's defaults, then the call's own — so the precedence is
/// per-call > per-verb > shared. An upsert-only shared default (`replace_all_except`) is
/// applied to upserts only; given in the insert defaults or to an insert call it is an
/// option error.
///
/// ```
/// use bulkinup::{ConflictAction, Db, Options, Registry, Repo};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// # let registry = Registry::from_toml_str(r#"
/// #     [schemas.Tag]
/// #     source = "tags"
/// #     fields = { id = "integer", name = "string" }
/// #     changesets.changeset = { cast = ["id", "name"], required = ["id", "name"] }
/// # "#, "inline")?.registry;
/// let db = Db::connect("sqlite::memory:").await?;
/// db.execute_script("CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL)").await?;
/// let repo = Repo::new(db, registry)
///     .defaults(|o| o.chunk_size(500))
///     .insert_defaults(|o| o.on_conflict("Tag", ConflictAction::Nothing));
/// repo.insert("Tag", vec![serde_json::json!({"id": 1, "name": "a"})], |o| o).await?;
/// // The insert default makes a second insert of the same tag a no-op instead of an error.
/// let s = repo.insert("Tag", vec![serde_json::json!({"id": 1, "name": "b"})], |o| o).await?;
/// assert_eq!(s.written, 1);
/// # Ok::<(), bulkinup::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Repo {
    db: Db,
    registry: Registry,
    shared: Vec<Layer>,
    insert: Vec<Layer>,
    upsert: Vec<Layer>,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl Repo {
    /// A repo with no defaults beyond [`Options::default`].
    pub fn new(db: Db, registry: Registry) -> Self {
        Repo {
            db,
            registry,
            shared: Vec::new(),
            insert: Vec::new(),
            upsert: Vec::new(),
        }
    }

    /// Adds shared defaults (both verbs).
    pub fn defaults<F>(mut self, f: F) -> Self
    where
        F: Fn(Options) -> Options + Send + Sync + 'static,
    {
        self.shared.push(Arc::new(f));
        self
    }

    /// Adds defaults for inserts.
    pub fn insert_defaults<F>(mut self, f: F) -> Self
    where
        F: Fn(Options) -> Options + Send + Sync + 'static,
    {
        self.insert.push(Arc::new(f));
        self
    }

    /// Adds defaults for upserts.
    pub fn upsert_defaults<F>(mut self, f: F) -> Self
    where
        F: Fn(Options) -> Options + Send + Sync + 'static,
    {
        self.upsert.push(Arc::new(f));
        self
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The options a call of `verb` gets, with the call's own layer applied last.
    pub fn options_for(&self, verb: Verb, call: impl FnOnce(Options) -> Options) -> Options {
        let mut o = self.shared.iter().fold(Options::default(), |o, f| f(o));
        let per_verb = match verb {
            Verb::Upsert => &self.upsert,
            Verb::Insert => {
                // Upsert-only shared defaults do not apply to inserts.
                o.replace_all_except.clear();
                &self.insert
            }
        };
        o = per_verb.iter().fold(o, |o, f| f(o));
        call(o)
    }

    /// [`crate::upsert`] with this repo's defaults.
    ///
    /// # Errors
    /// As [`crate::upsert`].
    pub async fn upsert<I>(
        &self,
        root: &str,
        items: I,
        call: impl FnOnce(Options) -> Options,
    ) -> Result<Summary>
    where
        I: IntoIterator,
        I::Item: IntoItem,
    {
        self.write(Verb::Upsert, root, items, call).await
    }

    /// [`crate::insert`] with this repo's defaults.
    ///
    /// # Errors
    /// As [`crate::insert`].
    pub async fn insert<I>(
        &self,
        root: &str,
        items: I,
        call: impl FnOnce(Options) -> Options,
    ) -> Result<Summary>
    where
        I: IntoIterator,
        I::Item: IntoItem,
    {
        self.write(Verb::Insert, root, items, call).await
    }

    /// [`crate::write`] with this repo's defaults for `verb`.
    ///
    /// # Errors
    /// As [`crate::write`].
    pub async fn write<I>(
        &self,
        verb: Verb,
        root: &str,
        items: I,
        call: impl FnOnce(Options) -> Options,
    ) -> Result<Summary>
    where
        I: IntoIterator,
        I::Item: IntoItem,
    {
        let options = self.options_for(verb, call);
        crate::write(&self.db, &self.registry, root, verb, items, &options).await
    }
}
