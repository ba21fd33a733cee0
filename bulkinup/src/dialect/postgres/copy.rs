//! PostgreSQL's bulk loader for plain inserts: `COPY table (cols) FROM STDIN (FORMAT binary)`
//! through sqlx's [`PgConnection::copy_in_raw`], each value encoded by sqlx's own
//! `Encode<Postgres>` into the binary COPY tuple format. The executor finds it through
//! [`Columnar::copy_sql`] and [`Columnar::copy`].
//!
//! A binary COPY has no casts: each value must be in the binary form of its column's own
//! type. So a table is loaded this way only where every column's type (a domain's base type)
//! is the type its values are bound as ([`pg_type`]), or one of the same binary form:
//! `varchar` for `text`, `timestamp` and `timestamptz` for each other (the same microseconds:
//! sessions use UTC). Any other table, a view, and every batch with a conflict clause are
//! written with [`unnest`](super::unnest) as before.

use futures::future::BoxFuture;
use sqlx::encode::{Encode, IsNull};
use sqlx::postgres::{PgArgumentBuffer, PgConnection, Postgres};
use sqlx::types::Json;

use super::{PgDialect, pg_type};
use crate::dialect::{Dialect, TableName, trusted_sql};
use crate::plan::{Column, OnConflict};
use crate::schema::{FieldType, Value};

/// The columns of the relation `$1` (a quoted, possibly qualified name) with their types (a
/// domain's base type), and the relation's kind.
const COLUMN_TYPES: &str = r#"SELECT a.attname::text,
       (CASE WHEN t.typtype = 'd' THEN bt.typname ELSE t.typname END)::text,
       c.relkind::text
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype
WHERE c.oid = $1::regclass"#;

/// The binary COPY signature, flags and header extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// How much COPY data one `CopyData` message carries.
const SEND_SIZE: usize = 1 << 20;

/// Whether a value bound as `bound` can be sent, in binary, to a column of type `column`.
fn same_binary_form(bound: &str, column: &str) -> bool {
    bound == column
        || matches!(
            (bound, column),
            ("text", "varchar") | ("timestamptz", "timestamp") | ("timestamp", "timestamptz")
        )
}

/// The binary `COPY` statement for `columns` of `table` when the batch has no conflict
/// clause and the table's column types allow it (module docs), read from the catalog on
/// `conn`; `None` otherwise.
pub(super) fn copy_sql<'c>(
    conn: &'c mut PgConnection,
    table: TableName<'c>,
    columns: &'c [Column],
    on_conflict: &'c OnConflict,
) -> BoxFuture<'c, Result<Option<String>, sqlx::Error>> {
    Box::pin(async move {
        if *on_conflict != OnConflict::Raise {
            return Ok(None);
        }
        let Some(bound) = columns
            .iter()
            .map(|c| pg_type(&c.ty))
            .collect::<Option<Vec<_>>>()
        else {
            return Ok(None);
        };
        let quoted = PgDialect.quote_table(table);
        let types: Vec<(String, String, String)> = sqlx::query_as(COLUMN_TYPES)
            .bind(&quoted)
            .fetch_all(&mut *conn)
            .await?;
        let fits = types.iter().all(|(_, _, kind)| kind == "r" || kind == "p")
            && columns.iter().zip(&bound).all(|(c, b)| {
                types
                    .iter()
                    .any(|(name, ty, _)| *name == c.name && same_binary_form(b, ty))
            });
        if !fits || types.is_empty() {
            return Ok(None);
        }
        let cols = columns
            .iter()
            .map(|c| PgDialect.quote(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(Some(format!(
            "COPY {quoted} ({cols}) FROM STDIN (FORMAT binary)"
        )))
    })
}

/// Runs the `COPY` statement `sql` on `conn` with `rows` (shared columns take the first
/// row's value, as the other statements bind them once): every row is encoded before the
/// COPY starts, so a value that cannot be encoded fails the batch without a word to the
/// server. Returns the rows written.
pub(super) fn copy<'c>(
    conn: &'c mut PgConnection,
    sql: &'c str,
    columns: &'c [Column],
    rows: &'c [Vec<Value>],
) -> BoxFuture<'c, Result<u64, sqlx::Error>> {
    Box::pin(async move {
        let data = encode_rows(columns, rows).map_err(sqlx::Error::Encode)?;
        let statement = trusted_sql(sql).0;
        let mut copy = conn.copy_in_raw(&statement).await?;
        for piece in data.chunks(SEND_SIZE) {
            copy.send(piece).await?;
        }
        copy.finish().await
    })
}

/// `rows` in the binary COPY format: the header, one tuple per row (its field count, then
/// each value as its length and sqlx's binary encoding, `-1` for `NULL`), the trailer.
fn encode_rows(
    columns: &[Column],
    rows: &[Vec<Value>],
) -> Result<PgArgumentBuffer, sqlx::error::BoxDynError> {
    let mut buf = PgArgumentBuffer::default();
    let fields = i16::try_from(columns.len())
        .map_err(|_| format!("{} columns do not fit one COPY tuple", columns.len()))?;
    buf.extend_from_slice(HEADER);
    let Some(first) = rows.first() else {
        buf.extend_from_slice(&(-1_i16).to_be_bytes());
        return Ok(buf);
    };
    for row in rows {
        buf.extend_from_slice(&fields.to_be_bytes());
        for (i, c) in columns.iter().enumerate() {
            let value = if c.shared { &first[i] } else { &row[i] };
            field(&mut buf, value, &c.ty)?;
        }
    }
    buf.extend_from_slice(&(-1_i16).to_be_bytes());
    Ok(buf)
}

/// Appends one value of a column bound as `ty`: its length, then its binary form.
fn field(
    buf: &mut PgArgumentBuffer,
    value: &Value,
    ty: &FieldType,
) -> Result<(), sqlx::error::BoxDynError> {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    let written = match (value, ty) {
        (Value::Null, _) => IsNull::Yes,
        (Value::Int(x), FieldType::Id | FieldType::Integer) => {
            Encode::<Postgres>::encode_by_ref(x, buf)?
        }
        (Value::Float(x), FieldType::Float) => Encode::<Postgres>::encode_by_ref(x, buf)?,
        (Value::Decimal(x), FieldType::Decimal) => Encode::<Postgres>::encode_by_ref(x, buf)?,
        (Value::Bool(x), FieldType::Boolean) => Encode::<Postgres>::encode_by_ref(x, buf)?,
        (Value::String(x), FieldType::String) => {
            Encode::<Postgres>::encode_by_ref(&x.as_str(), buf)?
        }
        (Value::Bytes(x), FieldType::Binary) => {
            Encode::<Postgres>::encode_by_ref(&x.as_slice(), buf)?
        }
        (Value::Uuid(x), FieldType::BinaryId) => Encode::<Postgres>::encode_by_ref(x, buf)?,
        (Value::Json(x), FieldType::Map | FieldType::Embed) => {
            Encode::<Postgres>::encode_by_ref(&Json(x), buf)?
        }
        (Value::Date(x), FieldType::Date) => Encode::<Postgres>::encode_by_ref(x, buf)?,
        (Value::Time(x), FieldType::Time) => Encode::<Postgres>::encode_by_ref(x, buf)?,
        (Value::NaiveDateTime(x), FieldType::NaiveDatetime | FieldType::NaiveDatetimeUsec) => {
            Encode::<Postgres>::encode_by_ref(x, buf)?
        }
        (Value::UtcDateTime(x), FieldType::UtcDatetime | FieldType::UtcDatetimeUsec) => {
            Encode::<Postgres>::encode_by_ref(x, buf)?
        }
        (other, ty) => {
            return Err(format!(
                "value {} does not fit a `{}` column",
                other.to_json(),
                pg_type(ty).unwrap_or("array")
            )
            .into());
        }
    };
    let len = match written {
        IsNull::Yes => -1,
        IsNull::No => i32::try_from(buf.len() - start - 4)
            .map_err(|_| "a value longer than 2 GiB does not fit a COPY field")?,
    };
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::unnest::tests::column;
    use super::*;

    #[test]
    fn rows_are_tuples_of_length_prefixed_values_between_header_and_trailer() {
        let columns = [
            column("id", FieldType::Integer, false),
            column("name", FieldType::String, false),
            column("at", FieldType::UtcDatetimeUsec, true),
        ];
        let rows = vec![
            vec![Value::Int(1), Value::String("ab".into()), Value::Null],
            vec![Value::Int(2), Value::Null, Value::Null],
        ];
        let data = encode_rows(&columns, &rows).expect("encode");
        let mut want = HEADER.to_vec();
        for (id, name) in [(1_i64, Some("ab")), (2, None)] {
            want.extend_from_slice(&3_i16.to_be_bytes());
            want.extend_from_slice(&8_i32.to_be_bytes());
            want.extend_from_slice(&id.to_be_bytes());
            match name {
                Some(n) => {
                    want.extend_from_slice(&(n.len() as i32).to_be_bytes());
                    want.extend_from_slice(n.as_bytes());
                }
                None => want.extend_from_slice(&(-1_i32).to_be_bytes()),
            }
            want.extend_from_slice(&(-1_i32).to_be_bytes());
        }
        want.extend_from_slice(&(-1_i16).to_be_bytes());
        assert_eq!(&data[..], &want[..]);
    }

    #[test]
    fn a_value_of_another_type_is_an_encode_error_naming_the_column_type() {
        let columns = [column("id", FieldType::Integer, false)];
        let e = encode_rows(&columns, &[vec![Value::String("x".into())]]).unwrap_err();
        assert_eq!(e.to_string(), r#"value "x" does not fit a `int8` column"#);
    }

    #[test]
    fn text_goes_to_varchar_and_timestamps_to_either_kind_but_int8_not_to_int4() {
        assert!(same_binary_form("text", "varchar"));
        assert!(same_binary_form("timestamptz", "timestamp"));
        assert!(same_binary_form("jsonb", "jsonb"));
        assert!(!same_binary_form("int8", "int4"));
        assert!(!same_binary_form("jsonb", "json"));
    }
}
