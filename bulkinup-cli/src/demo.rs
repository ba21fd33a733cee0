//! `bulkinup demo`: the example blog of `examples/blog/`, end to end, on any of the three databases.
//!
//! Creates the blog tables if they are missing (the DDL of `examples/blog/` for the URL's
//! database), upserts the bundled categories (posts reference them) and the bundled nested
//! authors — with their posts, comments, tags, profile and embedded address and social links —
//! then prints each call's summary and every table's rows. One bundled author is invalid on
//! purpose, to show how an invalid item is skipped and reported. Being upserts, the demo can be
//! run again: the second run updates the same rows.

use std::sync::{Arc, Mutex, PoisonError};

use bulkinup::{Db, DbKind, Error, Item, Options, Registry, Summary, redact};
use serde_json::Value as J;

use crate::args::DemoArgs;
use crate::output::{self, Failure};
use crate::settings::{self, database_kind, locate_url};

const SCHEMA: &str = include_str!("../../examples/blog/schema.toml");
const CATEGORIES: &str = include_str!("../../examples/blog/categories.ndjson");
const AUTHORS: &str = include_str!("../../examples/blog/authors.ndjson");
const SQLITE_DDL: &str = include_str!("../../examples/blog/sqlite.sql");
const POSTGRES_DDL: &str = include_str!("../../examples/blog/postgres.sql");
const MYSQL_DDL: &str = include_str!("../../examples/blog/mysql.sql");

/// The blog tables, parents first, with the columns their rows are listed by.
const TABLES: &[(&str, &str)] = &[
    ("categories", "id"),
    ("authors", "id"),
    ("profiles", "id"),
    ("posts", "id"),
    ("comments", "id"),
    ("tags", "id"),
    ("posts_tags", "post_id, tag_id"),
];

/// Runs the demo.
///
/// # Errors
/// A [`Failure`] with the error's exit status.
pub async fn run(args: DemoArgs) -> Result<(), Failure> {
    let url = args.db.database_url;
    let ddl = match database_kind(&url)? {
        DbKind::Sqlite => SQLITE_DDL,
        DbKind::Postgres => POSTGRES_DDL,
        DbKind::MySql => MYSQL_DDL,
    };
    // The time limits are checked before connecting, as for the other commands.
    let limits = settings::time_limits(&args.limits)?;
    let registry = Registry::from_toml_str(SCHEMA, "examples/blog/schema.toml")?.registry;
    let categories = bundled(CATEGORIES, "examples/blog/categories.ndjson")?;
    let authors = bundled(AUTHORS, "examples/blog/authors.ndjson")?;

    let db = Db::connect_timeout(&url, limits.connect_timeout)
        .await
        .map_err(|e| Failure::new(locate_url(e), "nothing was written"))?;
    let result = load(&db, &registry, &url, ddl, &limits, categories, authors).await;
    db.close().await;
    // A database error names the database, as upsert's do.
    result.map_err(|failure| failure.on(&url))
}

/// The demo on `db`: each step within `limits`, the time limits of the flags (the DDL script
/// and each listing query bounded as one query each, each upsert as one call).
async fn load(
    db: &Db,
    registry: &Registry,
    url: &str,
    ddl: &str,
    limits: &Options,
    categories: Vec<Item>,
    authors: Vec<Item>,
) -> Result<(), Failure> {
    db.execute_script_within(ddl, limits)
        .await
        .map_err(|e| Failure::new(e, "the blog tables could not be created"))?;
    output::print_line(&format!(
        "bulkinup demo: the example blog (examples/blog/) in {}",
        redact(url)
    ))?;

    let summary = bulkinup::upsert(db, registry, "Category", categories, limits)
        .await
        .map_err(|e| Failure::new(e, output::ROLLED_BACK))?;
    print_summary("Category", &summary)?;

    let skipped_lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&skipped_lines);
    let options = limits.clone().on_skipped(move |skipped| {
        let mut lines = sink.lock().unwrap_or_else(PoisonError::into_inner);
        for s in skipped {
            lines.push(format!(
                "  skipped {}: {}",
                output::origin_text(s.item.origin.as_ref()),
                s.changeset.errors_json()
            ));
        }
    });
    let summary = bulkinup::upsert(db, registry, "Author", authors, &options)
        .await
        .map_err(|e| Failure::new(e, output::ROLLED_BACK))?;
    print_summary("Author", &summary)?;
    let lines = skipped_lines
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if !lines.is_empty() {
        output::print_line("  (invalid on purpose: an invalid item is skipped, never written)")?;
        for line in lines {
            output::print_line(&line)?;
        }
    }

    for (table, order) in TABLES {
        let rows = db
            .fetch_json_within(&format!("SELECT * FROM {table} ORDER BY {order}"), limits)
            .await?;
        output::print_line(&format!("\n{table} ({} rows)", rows.len()))?;
        for mut row in rows {
            // JSON kept as text (SQLite, MySQL) is shown as the JSON it holds.
            for value in row.values_mut() {
                if let J::String(text) = value
                    && (text.starts_with('{') || text.starts_with('['))
                    && let Ok(json) = serde_json::from_str::<J>(text)
                {
                    *value = json;
                }
            }
            output::print_line(&format!("  {}", J::Object(row)))?;
        }
    }
    Ok(())
}

fn print_summary(root: &str, summary: &Summary) -> Result<(), Failure> {
    let line = output::SummaryLine {
        summary,
        dry_run: false,
    };
    output::print_line(&format!("upsert {root}: {}", line.to_text()?))?;
    Ok(())
}

/// The items of a bundled NDJSON file.
fn bundled(text: &str, name: &str) -> Result<Vec<Item>, Error> {
    let mut items = Vec::new();
    let mut error = None;
    let file: Arc<str> = Arc::from(name);
    let limit = bulkinup::options::DEFAULT_MAX_ITEM_BYTES;
    bulkinup::input::read_source(text.as_bytes(), &file, limit, &mut |item| match item {
        Ok(item) => {
            items.push(item);
            true
        }
        Err(e) => {
            error = Some(e);
            false
        }
    });
    match error {
        Some(e) => Err(e),
        None => Ok(items),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_example_parses() {
        assert_eq!(bundled(CATEGORIES, "c").map(|v| v.len()).ok(), Some(3));
        assert_eq!(bundled(AUTHORS, "a").map(|v| v.len()).ok(), Some(4));
    }
}
