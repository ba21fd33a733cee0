//! Running a command: `upsert`/`insert` (check everything, connect, stream the inputs through
//! the library, report) and `demo`.

use std::sync::Arc;

use bulkinup::{Db, Error, Verb};
use futures::StreamExt;

use crate::args::{Cli, Command, SchemaCommand, WriteArgs};
use crate::demo;
use crate::files;
use crate::output::{self, Failure, FailureLine, PER_CHUNK, ROLLED_BACK, Report};
use crate::settings::{self, Settings, locate_url};
use bulkinup::input::{self, Source};

/// The message of a call interrupted by Ctrl-C (SIGINT).
const INTERRUPTED: &str = "bulkinup: interrupted: rolled back";

/// The message of a call with `--max-concurrency` interrupted by Ctrl-C, followed by a line
/// that says what had committed.
const INTERRUPTED_PER_CHUNK: &str = "bulkinup: interrupted: the chunks being written were rolled back; chunks committed before stay written";

/// What an interrupted call with `--max-concurrency` cannot know: after the line of what had
/// committed.
const COMMIT_UNDER_WAY: &str =
    "(a chunk whose commit was under way when interrupted may have committed too)";

/// The exit status of a call interrupted by Ctrl-C: 128 + SIGINT, as shells report it.
const INTERRUPTED_EXIT: i32 = 130;

/// Runs the parsed command line.
///
/// # Errors
/// A [`Failure`]: its error gives the exit status.
pub fn run(cli: Cli) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io { path: None, source })?;
    runtime.block_on(async move {
        match cli.command {
            Command::Upsert(args) => write(Verb::Upsert, args).await,
            Command::Insert(args) => write(Verb::Insert, args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Schema(args) => schema(args.command).await,
        }
    })
}

/// `bulkinup upsert|insert`.
async fn write(verb: Verb, args: WriteArgs) -> Result<(), Failure> {
    // Everything the user gave is checked before the database is contacted (exit 2).
    let settings = Settings::from_args(verb, args).await?;
    let report = Arc::new(Report::new(
        settings.rejects.as_ref(),
        settings.verbose,
        !settings.quiet,
        settings.dry_run,
    )?);

    // A dry run uses no connection: it runs on an in-memory database, so nothing can touch
    // the target database (and no SQLite file is created).
    let url = match settings.dry_run {
        true => "sqlite::memory:",
        false => settings.database_url.as_str(),
    };
    // A SQLite file this call creates is removed if the call leaves it empty (it failed
    // before writing anything): a mistyped or default path leaves no 0-byte file behind.
    let created = Db::sqlite_file(url).filter(|path| !path.exists());
    let remove_if_created_empty = || {
        if let Some(path) = &created {
            files::remove_if_empty(path);
        }
    };
    let db = match Db::connect_timeout(url, settings.options.connect_timeout).await {
        Ok(db) => db,
        Err(e) => {
            remove_if_created_empty();
            return Err(Failure::new(locate_url(e), "nothing was written").on(url));
        }
    };

    let on_skipped = Arc::clone(&report);
    let on_rejected = Arc::clone(&report);
    let on_progress = Arc::clone(&report);
    let on_committed = Arc::clone(&report);
    let options = settings
        .options
        .clone()
        .on_skipped(move |s| on_skipped.on_skipped(s))
        .on_rejected(move |r| on_rejected.on_rejected(r))
        .on_progress(move |s| on_progress.on_progress(s))
        .on_committed(move |c| on_committed.on_committed(c));
    // With --max-concurrency a failure says on standard output what was committed.
    let several_inputs = settings.inputs.len() > 1;
    let print_committed = |error: String, committed: &[bulkinup::InputRange]| {
        let line = FailureLine {
            error,
            committed,
            several_inputs,
        };
        // A closed standard output does not hide the failure, which standard error reports.
        if let Ok(text) = line.to_text() {
            let _ = output::print_line(&text);
        }
    };

    // A failed write to the rejects file stops the call (rolled back): no invalid item is lost.
    // The progress bar follows the bytes the reader consumes.
    let items = |report: Arc<Report>| {
        let (items, progress) =
            input::stream_with_progress(settings.inputs.clone(), settings.options.max_item_bytes)?;
        report.reading(&progress);
        Ok(items.fuse().map(move |item| {
            report.mark_read();
            match report.take_failure() {
                Some(e) => Err(e),
                None => item,
            }
        }))
    };
    // Files can be read again: after a deadlock the library retries the call from the start,
    // and the report forgets what the rolled-back attempt reported.
    let (registry, root, verb) = (&settings.registry, &settings.root, settings.verb);
    let writing = async {
        match settings.inputs.iter().all(Source::rereadable) && report.restartable() {
            true => {
                let open = |attempt: u32| {
                    if attempt > 1 {
                        report.restart(attempt)?;
                    }
                    items(Arc::clone(&report))
                };
                bulkinup::write_restartable(&db, registry, root, verb, open, &options).await
            }
            false => {
                let items = items(Arc::clone(&report))?;
                bulkinup::write_stream(&db, registry, root, verb, items, &options).await
            }
        }
    };
    // Ctrl-C stops the call where it is: the open transaction is dropped (rolled back by the
    // database when its connection closes), the progress line cleared, and the call exits 130.
    let result = tokio::select! {
        result = writing => result,
        _ = tokio::signal::ctrl_c() => {
            report.clear_progress();
            db.close().await;
            remove_if_created_empty();
            match settings.options.max_concurrency {
                Some(_) => {
                    let committed = report.committed();
                    output::eprint_line(INTERRUPTED_PER_CHUNK);
                    output::eprint_line(&format!(
                        "{} {COMMIT_UNDER_WAY}",
                        bulkinup::InputRange::describe_committed(&committed)
                    ));
                    print_committed("interrupted".into(), &committed);
                }
                None => output::eprint_line(INTERRUPTED),
            }
            std::process::exit(INTERRUPTED_EXIT);
        }
    };
    report.clear_progress();
    db.close().await;
    let note = match settings.options.max_concurrency {
        Some(_) => PER_CHUNK,
        None => ROLLED_BACK,
    };
    // An option the library refuses once connected (a `prefix` that does not exist) is named
    // by its flag or schema-file key, like the ones refused before connecting.
    let summary = match result {
        Ok(summary) => summary,
        Err(e) => {
            // Once reading started, the rejects of the items read before the error are moved
            // into place all the same (with --max-concurrency, committed chunks had them
            // skipped); before that, an existing rejects file stays as it was.
            if let Err(rejects) = report.finish_failed() {
                output::eprint_error(&rejects.to_string());
            }
            remove_if_created_empty();
            // With --max-concurrency: what was committed, on both outputs.
            if let Error::PartlyCommitted { committed, source } = e {
                let source = settings.given.locate(*source, None);
                print_committed(source.to_string(), &committed);
                return Err(Failure::partly(source, committed).on(url));
            }
            // Too many invalid items: the message itself says what was written.
            if let Error::TooManyInvalid { .. } = e {
                return Err(e.into());
            }
            return Err(Failure::new(settings.given.locate(e, None), note).on(url));
        }
    };
    // The data is committed (or, in a dry run, validated) by now: a rejects file that cannot
    // be completed is its own outcome (exit 5), not malformed input.
    report.finish().map_err(|e| match e {
        Error::Io { path, source } => Error::RejectsIncomplete {
            path,
            dry_run: settings.dry_run,
            source,
        },
        other => other,
    })?;

    if !settings.quiet {
        for line in [summary.skipped_line(), summary.rejected_line()]
            .into_iter()
            .flatten()
        {
            output::eprint_line(&line);
        }
    }
    let line = output::SummaryLine {
        summary: &summary,
        dry_run: settings.dry_run,
    };
    output::print_line(&line.to_text()?)?;
    Ok(())
}

/// `bulkinup schema infer|check|ddl`.
async fn schema(command: SchemaCommand) -> Result<(), Failure> {
    match command {
        SchemaCommand::Infer(args) if !args.from_data.is_empty() => {
            let options = bulkinup::InferOptions::from_flags(
                args.root,
                args.sample.as_deref(),
                args.flatten,
                args.keyed,
            )?;
            let sources = Source::from_args(&args.from_data)?;
            // Reading is blocking work: off the runtime's threads.
            let text = tokio::task::spawn_blocking(move || {
                bulkinup::catalog::infer_from_data(&sources, &options)
            })
            .await
            .map_err(|e| Error::Task {
                message: e.to_string(),
            })??;
            output::print_line(text.trim_end())?;
            Ok(())
        }
        SchemaCommand::Infer(args) => {
            // The time limits are checked before connecting.
            let options = settings::time_limits(&args.limits)?;
            let url = args.database_url();
            let db = Db::connect_read_only_timeout(&url, options.connect_timeout)
                .await
                .map_err(locate_url)?;
            let tables = (!args.tables.is_empty()).then_some(args.tables.as_slice());
            let text =
                bulkinup::catalog::infer_with(&db, tables, args.prefix.as_deref(), &options).await;
            db.close().await;
            let text = text.map_err(|e| Failure::from(e).on(&url))?;
            output::print_line(text.trim_end())?;
            Ok(())
        }
        SchemaCommand::Ddl(args) => {
            // The file, its options and the URL's database are checked before connecting.
            let (kind, registry, options) = settings::ddl(&args)?;
            let statements = bulkinup::ddl(&registry, kind, &options)?;
            let created = match args.apply {
                true => {
                    let url = &args.db.database_url;
                    let db = Db::connect_timeout(url, options.connect_timeout)
                        .await
                        .map_err(locate_url)?;
                    let applied = bulkinup::apply_ddl(&db, &statements, &options).await;
                    db.close().await;
                    // A statement the database refused names the database, as upsert's do.
                    Some(applied.map_err(|e| Failure::from(e).on(url))?)
                }
                false => None,
            };
            let text: Vec<String> = statements.iter().map(ToString::to_string).collect();
            output::print_line(&text.join("\n\n"))?;
            if let Some(created) = created {
                output::eprint_line(&output::created_tables(&created));
            }
            Ok(())
        }
        SchemaCommand::Check(args) => {
            // The file and its options (the prefix, the time limits) are checked before the
            // database is contacted.
            let (registry, options, given) = settings::check(&args)?;
            let url = &args.db.database_url;
            let db = Db::connect_read_only_timeout(url, options.connect_timeout)
                .await
                .map_err(locate_url)?;
            let prefix = options.prefix.as_deref();
            let mismatches = bulkinup::catalog::check_with(&db, &registry, prefix, &options).await;
            db.close().await;
            // A prefix that does not exist is named by `--prefix` or by the schema file's key.
            let mismatches =
                mismatches.map_err(|e| Failure::from(given.locate(e, None)).on(url))?;
            for m in &mismatches {
                output::print_line(&m.to_string())?;
            }
            if mismatches.is_empty() {
                Ok(())
            } else {
                Err(Error::Schema {
                    schema: None,
                    key: None,
                    location: Some(args.schema),
                    message: format!(
                        "{} mismatch(es) between the schema file and the database (listed on standard output)",
                        mismatches.len()
                    ),
                }
                .into())
            }
        }
    }
}
