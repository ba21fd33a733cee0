//! Stage two of the command line: the flags, as typed, go to the library as one layer of
//! options ([`Layer::from_flags`]); the schema file's `[options]` tables are its other layers
//! ([`schema_file_layers`], with the positions the schema-file loader read), over the
//! command line's own defaults ([`Layer::command_line_defaults`]); the library merges them
//! (flags > per-verb table > shared table > defaults, key by key for the map options) and checks every value against the schemas before anything
//! connects to a database ([`Layer::resolve`]). Every error is an [`Error::InvalidOption`] or
//! [`Error::Schema`] (exit status 2) that names the flag or the key of the schema file.

use bulkinup::options::{Flags, Layer, schema_file_layers};
use bulkinup::{DbKind, Error, Options, Registry, Result, Verb};
use chrono::Utc;

use crate::args::{CheckArgs, DdlArgs, TimeLimitArgs, WriteArgs};
use crate::files::{self, Rejects};
use bulkinup::input::Source;

/// The database `url` names, checked by the library; its error names the flag or the
/// environment variable the URL came from ([`locate_url`]).
///
/// # Errors
/// [`Error::InvalidOption`] for a scheme of no supported database.
pub fn database_kind(url: &str) -> Result<DbKind> {
    DbKind::from_url(url).map_err(locate_url)
}

/// The library's error about the database URL (`database_url`), named by where the user
/// gave it: `--database-url` on the command line (also for the default, which the flag
/// overrides), else the environment variable, as `$DATABASE_URL`. Other errors pass through.
pub fn locate_url(error: Error) -> Error {
    match error {
        Error::InvalidOption {
            name,
            message,
            valid,
        } if name == "database_url" => {
            let on_command_line = std::env::args_os().any(|a| {
                a.to_str()
                    .is_some_and(|a| a == "--database-url" || a.starts_with("--database-url="))
            });
            let place = match on_command_line || std::env::var_os("DATABASE_URL").is_none() {
                true => "--database-url",
                false => "$DATABASE_URL",
            };
            bulkinup::options::Place::flag(place).error(message, valid.as_deref())
        }
        other => other,
    }
}

/// The option flags of `upsert`/`insert`, as typed.
fn flags(args: &WriteArgs) -> Flags {
    let mut f = time_limit_flags(&args.limits);
    f.changeset = args.changeset.clone();
    f.chunk_size = args.chunk_size.clone();
    f.max_concurrency = args.max_concurrency.clone();
    f.max_item_bytes = args.max_item_bytes.clone();
    f.placeholders = args.placeholders.clone();
    f.recover = args.recover.clone();
    f.replace_all_except = args.replace_all_except.clone();
    f.on_conflict = args.on_conflict.clone();
    f.conflict_target = args.conflict_target.clone();
    f.infer_foreign_keys = args.infer_foreign_keys;
    f.write_belongs_to = args.write_belongs_to;
    f.prefix = args.prefix.clone();
    f.any_unique_key = args.any_unique_key;
    f.max_skipped = args.max_skipped.clone();
    f.on_error = args.on_error.clone();
    f.shard = args.shard.clone();
    f
}

/// The time-limit flags of any command (`--timeout`, `--statement-timeout`,
/// `--connect-timeout`), as typed.
fn time_limit_flags(limits: &TimeLimitArgs) -> Flags {
    let mut f = Flags::default();
    f.timeout = limits.timeout.clone();
    f.statement_timeout = limits.statement_timeout.clone();
    f.connect_timeout = limits.connect_timeout.clone();
    f
}

/// The options of `schema infer` (from the database) and `demo`, which read no schema file:
/// their time-limit flags over the command line's defaults (no limit on the whole, 60 s per
/// statement or catalog query, 10 s to connect), as for `upsert`.
///
/// # Errors
/// [`Error::InvalidOption`] naming the flag (exit status 2).
pub fn time_limits(limits: &TimeLimitArgs) -> Result<Options> {
    Layer::command_line_defaults()
        .overlay(Layer::from_flags(&time_limit_flags(limits), Verb::Upsert)?)
        .to_options(false, Utc::now())
}

/// The schemas of a schema command's schema file (`schema check`, `schema ddl`) and its
/// options merged: the file's `[options]` and `[options.upsert]` over the command line's
/// defaults, `flags` over them, each checked in the order `upsert` checks them.
fn schema_file_options(path: &std::path::Path, flags: &Flags) -> Result<(Registry, Layer)> {
    let file = schema_file(path)?;
    let (shared, per_verb) = schema_file_layers(&file, &path.display().to_string(), Verb::Upsert)?;
    let merged = Layer::command_line_defaults()
        .overlay(shared)
        .overlay(per_verb)
        .overlay(Layer::from_flags(flags, Verb::Upsert)?);
    Ok((file.registry, merged))
}

/// The schema file of `schema check`, its options and where each came from: `--prefix` and
/// the time-limit flags over the file's `[options.upsert]` and `[options]` (their `prefix`,
/// `timeout`, `statement_timeout` and `connect_timeout`; its other keys are not used), over
/// the command line's defaults: the tables are looked for where `schema ddl` creates them
/// and `upsert` writes them. The layer names the flag or the schema-file key (with its
/// position) of an option the library refuses once connected (a prefix that does not
/// exist, [`Layer::locate`]).
///
/// # Errors
/// [`Error::InvalidOption`] or [`Error::Schema`] (exit status 2).
pub fn check(args: &CheckArgs) -> Result<(Registry, Options, Layer)> {
    let mut flags = time_limit_flags(&args.limits);
    flags.prefix = args.prefix.clone();
    let (registry, given) = schema_file_options(std::path::Path::new(&args.schema), &flags)?;
    let options = given.to_options(false, Utc::now())?;
    Ok((registry, options, given))
}

/// Everything one `upsert`/`insert` run needs, checked.
#[derive(Debug)]
pub struct Settings {
    /// The verb.
    pub verb: Verb,
    /// The schemas of the schema file.
    pub registry: Registry,
    /// The root schema.
    pub root: String,
    /// The database URL.
    pub database_url: String,
    /// The library options (without handlers; the runner adds them).
    pub options: Options,
    /// The inputs, in order.
    pub inputs: Vec<Source>,
    /// The rejects file, checked to be none of the files the call reads.
    pub rejects: Option<Rejects>,
    /// `--dry-run`
    pub dry_run: bool,
    /// `--quiet`
    pub quiet: bool,
    /// `--verbose`
    pub verbose: bool,
    /// Where each option came from, to name it in the library's errors.
    pub given: Layer,
}

impl Settings {
    /// Checks the arguments of `upsert`/`insert`, the schema file and its options, and the
    /// inputs; then lets the library check the options against the schemas — without
    /// connecting to the database.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] or [`Error::Schema`] (exit status 2).
    pub async fn from_args(verb: Verb, args: WriteArgs) -> Result<Settings> {
        database_kind(&args.db.database_url)?;
        let schema_path = args.schema.display().to_string();
        let file = schema_file(&args.schema)?;
        let registry = file.registry.clone();
        if registry.get(&args.root).is_err() {
            let names = registry.schema_names();
            return Err(Error::option(
                "--root",
                format!(
                    "unknown schema `{}`{}",
                    args.root,
                    bulkinup::options::did_you_mean(&args.root, &names)
                ),
                Some(&names.join(", ")),
            ));
        }
        let (shared, per_verb) = schema_file_layers(&file, &schema_path, verb)?;
        let flags = Layer::from_flags(&flags(&args), verb)?;
        let merged = Layer::command_line_defaults()
            .overlay(shared)
            .overlay(per_verb)
            .overlay(flags);
        let options = merged.resolve(&registry, verb, &args.root, args.dry_run, Utc::now())?;
        let inputs = Source::from_args(&args.inputs)?;
        let rejects = args
            .rejects
            .as_deref()
            .map(|path| files::rejects(path, &inputs, &args.schema))
            .transpose()?;
        Ok(Settings {
            verb,
            registry,
            root: args.root,
            database_url: args.db.database_url,
            options,
            inputs,
            rejects,
            dry_run: args.dry_run,
            quiet: args.quiet,
            verbose: args.verbose,
            given: merged,
        })
    }
}

/// The database `schema ddl` writes for (from the URL, checked) and the options its schema
/// file's `[options]` and `[options.upsert]` give over the command line's defaults: the
/// conflict targets, the prefix, and the time limits of `--apply` (which its flags
/// override).
///
/// # Errors
/// [`Error::InvalidOption`] or [`Error::Schema`] (exit status 2).
pub fn ddl(args: &DdlArgs) -> Result<(DbKind, Registry, Options)> {
    let kind = database_kind(&args.db.database_url)?;
    let (registry, merged) = schema_file_options(&args.schema, &time_limit_flags(&args.limits))?;
    let options = merged.to_options(false, Utc::now())?;
    Ok((kind, registry, options))
}

/// The schema file of `--schema`, loaded and checked; a file that cannot be read is an
/// [`Error::Schema`] naming it.
fn schema_file(path: &std::path::Path) -> Result<bulkinup::SchemaFile> {
    Registry::from_file(path).map_err(|e| match e {
        Error::Io { source, .. } => Error::Schema {
            schema: None,
            key: None,
            location: Some(path.display().to_string()),
            message: format!("cannot read the schema file (--schema): {source}"),
        },
        other => other,
    })
}
