//! The workload's rows as CSV files for each database's own bulk loader (`--loaders`):
//! PostgreSQL `psql \copy … (FORMAT csv)`, MariaDB/MySQL `LOAD DATA LOCAL INFILE` and the
//! SQLite shell's `.import --csv`.
//!
//! Every text or JSON cell is enclosed in double quotes with inner quotes doubled, so commas,
//! quotes, newlines and carriage returns inside a value are data for all three loaders;
//! integers are written bare. The loaders differ only in how a `NULL` is spelled:
//!
//! - **psql** `\copy … CSV`: an unquoted empty field is `NULL`, a quoted one (`""`) the empty
//!   string.
//! - **MariaDB/MySQL** `LOAD DATA … OPTIONALLY ENCLOSED BY '"' ESCAPED BY ''`: the bare word
//!   `NULL` is `NULL` (a quoted `"NULL"` is the string); with no escape character, a
//!   backslash in a value is an ordinary byte (`\N` would need `ESCAPED BY '\\'`, which then
//!   also rewrites every backslash in the data).
//! - **sqlite3** `.import --csv`: there is no `NULL` at all; an empty field becomes the empty
//!   string. The cell is written empty, and the import script then sets the columns that
//!   hold `NULL`s in the workload back to `NULL` ([`null_columns`]), inside the same
//!   transaction and inside the timing.

use crate::workload::{Cell, Table};

/// Whose CSV conventions to follow (they differ only in `NULL`, see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loader {
    /// PostgreSQL `psql \copy … WITH (FORMAT csv)`.
    Psql,
    /// MariaDB/MySQL `LOAD DATA LOCAL INFILE` with `ESCAPED BY ''`.
    LoadData,
    /// The SQLite shell's `.import --csv`.
    SqliteImport,
}

/// Appends one row as a CSV line (`\n`-terminated) for `loader`: each cell as
/// [`Cell::to_csv`] writes it, but a `NULL` as the bare word `NULL` for `LOAD DATA`.
pub fn encode_row(loader: Loader, row: &[Cell], buf: &mut Vec<u8>) {
    for (i, cell) in row.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        match (loader, cell) {
            (Loader::LoadData, Cell::NullTimestamp) => buf.extend_from_slice(b"NULL"),
            _ => buf.extend_from_slice(cell.to_csv().as_bytes()),
        }
    }
    buf.push(b'\n');
}

/// A table's rows as one CSV file's bytes (no header line).
pub fn encode_table(loader: Loader, table: &Table) -> Vec<u8> {
    let mut buf = Vec::with_capacity(table.rows.len() * 64);
    for row in &table.rows {
        encode_row(loader, row, &mut buf);
    }
    buf
}

/// The columns of `table` that hold a `NULL` in some row: what `.import --csv` loads as
/// empty strings and the SQLite script sets back to `NULL`.
pub fn null_columns(table: &Table) -> Vec<&'static str> {
    table
        .def
        .columns
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            table
                .rows
                .iter()
                .any(|r| matches!(r.get(*i), Some(Cell::NullTimestamp)))
        })
        .map(|(_, c)| *c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{TABLES, Workload};
    use serde_json::value::RawValue;

    fn tricky_row() -> Vec<Cell> {
        let json = RawValue::from_string(r#"{"a":"x,\"y\"\nz","b":null}"#.to_string());
        let Ok(json) = json else { panic!("not JSON") };
        vec![
            Cell::Int(-42),
            Cell::Text("comma, \"quote\"\nnew line\r\\back".into()),
            Cell::Text(String::new()),
            Cell::Text("NULL".into()),
            Cell::NullTimestamp,
            Cell::Json(json),
        ]
    }

    #[test]
    fn psql_writes_null_as_an_unquoted_empty_field_and_quotes_every_text() {
        let mut buf = Vec::new();
        encode_row(Loader::Psql, &tricky_row(), &mut buf);
        assert_eq!(
            String::from_utf8_lossy(&buf),
            "-42,\"comma, \"\"quote\"\"\nnew line\r\\back\",\"\",\"NULL\",,\
             \"{\"\"a\"\":\"\"x,\\\"\"y\\\"\"\\nz\"\",\"\"b\"\":null}\"\n"
        );
    }

    #[test]
    fn load_data_writes_null_as_the_bare_word() {
        let mut buf = Vec::new();
        encode_row(Loader::LoadData, &tricky_row(), &mut buf);
        let text = String::from_utf8_lossy(&buf);
        assert!(text.contains(",\"\",\"NULL\",NULL,\"{"), "{text}");
    }

    #[test]
    fn sqlite_import_writes_null_empty_and_names_the_columns_to_reset() {
        let mut buf = Vec::new();
        encode_row(Loader::SqliteImport, &tricky_row(), &mut buf);
        assert!(String::from_utf8_lossy(&buf).contains(",\"NULL\",,\"{"));
        let tables = Workload { authors: 2 }.flatten();
        let nulls: Vec<(&str, Vec<&str>)> = tables
            .iter()
            .map(|t| (t.def.name, null_columns(t)))
            .filter(|(_, c)| !c.is_empty())
            .collect();
        assert_eq!(
            nulls,
            vec![
                ("authors", vec!["inserted_at"]),
                ("posts", vec!["inserted_at"])
            ]
        );
    }

    #[test]
    fn a_table_is_one_line_per_row() {
        let tables = Workload { authors: 3 }.flatten();
        let comments = &tables[3];
        assert_eq!(comments.def.name, TABLES[3].name);
        let text = encode_table(Loader::Psql, comments);
        assert_eq!(
            text.iter().filter(|&&b| b == b'\n').count(),
            comments.rows.len()
        );
        assert!(text.starts_with(b"1,1,\"Comment 0 on post 1: a short remark.\"\n"));
    }
}
