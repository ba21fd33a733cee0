//! PostgreSQL's bulk loader for plain inserts: `COPY table (cols) FROM STDIN (FORMAT binary)`
//! through sqlx's [`PgConnection::copy_in_raw`], each value encoded by sqlx's own
//! `Encode<Postgres>` into the binary COPY tuple format. The executor finds it through
//! [`Columnar::copy_sql`](crate::dialect::Columnar::copy_sql) and
//! [`Columnar::copy`](crate::dialect::Columnar::copy).
//!
//! A binary COPY has no casts: each value is sent in the binary form of its column's own
//! type. So a table is loaded this way only where every column's type (a domain's base
//! type) is one its values can be sent as exactly ([`wire_for`], which gives the [`Wire`]
//! form of each column of the [`CopyPlan`]):
//! - the type they are bound as ([`pg_type`]), or one of the same binary form: `varchar`
//!   for `text`, `timestamp` and `timestamptz` for each other (the same microseconds:
//!   sessions use UTC);
//! - for `:integer` and `:id` values (bound as `int8`): `int4` (`integer`, `serial`), sent
//!   as 4 bytes, `int2` (`smallint`) as 2 bytes, and `numeric` as a decimal (exact for
//!   every 64-bit integer);
//! - for `:float` values (bound as `float8`): `float4` (`real`), sent as the nearest
//!   single-precision float, which is what the server's `float8 → float4` cast gives (NaN
//!   and the infinities stay themselves).
//!
//! Other pairs are not sent: a `:float` into `numeric` (the server's cast keeps 15 significant
//! digits, not the float's exact value), an integer into `float8` or `float4` (not exact
//! past 2^53), `jsonb` values into `json`.
//!
//! A value the narrower form cannot hold — an integer beyond `int4`'s or `int2`'s range, a
//! finite float beyond `float4`'s (the cast's overflow), a non-zero one that would round to
//! zero (its underflow) — is never sent: [`copy`] finds it while encoding the batch, before
//! the COPY starts, and returns `None`; the executor then writes that batch with
//! [`unnest`](super::unnest), whose cast makes the server raise its own error (`22003`,
//! `integer out of range`, `smallint out of range`, `value out of range: overflow`) for the
//! row isolation to find, exactly as without COPY. Checks of the column itself (a numeric's
//! precision and scale, a varchar's length, a domain's constraints) are the server's in
//! either path. Any other table and a view are written with `unnest` as before. An
//! upsert's batch (a conflict clause) uses the same plan for its new rows only, the executor
//! finding them with [`Columnar::probe`](crate::dialect::Columnar::probe) and falling back to
//! `unnest … ON CONFLICT` when the server refuses the `COPY`.

use futures::future::BoxFuture;
use sqlx::encode::{Encode, IsNull};
use sqlx::postgres::{PgArgumentBuffer, PgConnection, Postgres};
use sqlx::types::Json;

use super::{PgDialect, pg_type};
use crate::dialect::{CopyPlan, Dialect, TableName, Wire, trusted_sql};
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

/// The form in which values bound as `bound` are sent, in binary, to a column of type
/// `column` (module docs), or `None` when they cannot be sent to it exactly.
fn wire_for(bound: &str, column: &str) -> Option<Wire> {
    if bound == column {
        return Some(Wire::Bound);
    }
    Some(match (bound, column) {
        ("text", "varchar") | ("timestamptz", "timestamp") | ("timestamp", "timestamptz") => {
            Wire::Bound
        }
        ("int8", "int4") => Wire::Int4,
        ("int8", "int2") => Wire::Int2,
        ("int8", "numeric") => Wire::Numeric,
        ("float8", "float4") => Wire::Float4,
        _ => return None,
    })
}

/// The binary `COPY` plan for `columns` of `table` when the batch has no conflict clause
/// and the table's column types allow it (module docs), read from the catalog on `conn`;
/// `None` otherwise.
pub(super) fn copy_sql<'c>(
    conn: &'c mut PgConnection,
    table: TableName<'c>,
    columns: &'c [Column],
    on_conflict: &'c OnConflict,
) -> BoxFuture<'c, Result<Option<CopyPlan>, sqlx::Error>> {
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
        if types.is_empty() || !types.iter().all(|(_, _, kind)| kind == "r" || kind == "p") {
            return Ok(None);
        }
        let Some(wire) = columns
            .iter()
            .zip(&bound)
            .map(|(c, b)| {
                types
                    .iter()
                    .find(|(name, _, _)| *name == c.name)
                    .and_then(|(_, ty, _)| wire_for(b, ty))
            })
            .collect::<Option<Vec<_>>>()
        else {
            return Ok(None);
        };
        let cols = columns
            .iter()
            .map(|c| PgDialect.quote(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(Some(CopyPlan {
            sql: format!("COPY {quoted} ({cols}) FROM STDIN (FORMAT binary)"),
            wire,
        }))
    })
}

/// Runs the `COPY` of `plan` on `conn` with `rows` (shared columns take the first row's
/// value, as the other statements bind them once): every row is encoded before the COPY
/// starts, so a value that cannot be encoded fails the batch without a word to the server,
/// and one its column's form cannot hold (module docs) makes this return `None` with
/// nothing sent. Returns the rows written.
pub(super) fn copy<'c>(
    conn: &'c mut PgConnection,
    plan: &'c CopyPlan,
    columns: &'c [Column],
    rows: &'c [Vec<Value>],
) -> BoxFuture<'c, Result<Option<u64>, sqlx::Error>> {
    Box::pin(async move {
        let Some(data) = encode_rows(columns, &plan.wire, rows).map_err(sqlx::Error::Encode)?
        else {
            return Ok(None);
        };
        let statement = trusted_sql(plan.sql.as_str()).0;
        let mut copy = conn.copy_in_raw(&statement).await?;
        for piece in data.chunks(SEND_SIZE) {
            copy.send(piece).await?;
        }
        copy.finish().await.map(Some)
    })
}

/// `rows` in the binary COPY format: the header, one tuple per row (its field count, then
/// each value as its length and its binary form in its column's `wire` form, `-1` for
/// `NULL`), the trailer; `None` when a value does not fit its column's form. An error names
/// the column and the row's position in the batch.
fn encode_rows(
    columns: &[Column],
    wire: &[Wire],
    rows: &[Vec<Value>],
) -> Result<Option<PgArgumentBuffer>, sqlx::error::BoxDynError> {
    let mut buf = PgArgumentBuffer::default();
    let fields = i16::try_from(columns.len())
        .map_err(|_| format!("{} columns do not fit one COPY tuple", columns.len()))?;
    if wire.len() != columns.len() {
        return Err(format!(
            "a COPY plan of {} columns for a batch of {}",
            wire.len(),
            columns.len()
        )
        .into());
    }
    buf.extend_from_slice(HEADER);
    let Some(first) = rows.first() else {
        buf.extend_from_slice(&(-1_i16).to_be_bytes());
        return Ok(Some(buf));
    };
    for (r, row) in rows.iter().enumerate() {
        buf.extend_from_slice(&fields.to_be_bytes());
        for (i, (c, w)) in columns.iter().zip(wire).enumerate() {
            // A shared column's value is the first row's.
            let (at, row) = if c.shared { (0, first) } else { (r, row) };
            let value = row.get(i).ok_or_else(|| {
                format!(
                    "row {} of {} has no column `{}`",
                    at + 1,
                    rows.len(),
                    c.name
                )
            })?;
            let fits = field(&mut buf, value, &c.ty, *w).map_err(|e| {
                format!(
                    "column `{}`, row {} of {} in the batch: {e}",
                    c.name,
                    at + 1,
                    rows.len()
                )
            })?;
            if !fits {
                return Ok(None);
            }
        }
    }
    buf.extend_from_slice(&(-1_i16).to_be_bytes());
    Ok(Some(buf))
}

/// The SQL type a column bound as `ty` is sent as in the `wire` form.
fn wire_type(ty: &FieldType, wire: Wire) -> &'static str {
    match wire {
        Wire::Bound => pg_type(ty).unwrap_or("array"),
        Wire::Int4 => "int4",
        Wire::Int2 => "int2",
        Wire::Float4 => "float4",
        Wire::Numeric => "numeric",
    }
}

/// `x` as the single-precision float the server's `float8 → float4` cast gives, or `None`
/// where that cast fails: a finite `x` beyond `float4`'s range (overflow) or a non-zero one
/// that rounds to zero (underflow). NaN and the infinities stay themselves.
fn to_float4(x: f64) -> Option<f32> {
    // Round to nearest, ties to even, as C's conversion in the server.
    let f = x as f32;
    let overflow = f.is_infinite() && !x.is_infinite();
    let underflow = f == 0.0 && x != 0.0;
    (!overflow && !underflow).then_some(f)
}

/// Appends one value of a column bound as `ty`, sent in the `wire` form: its length, then
/// its binary form. `false` (with the buffer to be dropped) when the form cannot hold it.
fn field(
    buf: &mut PgArgumentBuffer,
    value: &Value,
    ty: &FieldType,
    wire: Wire,
) -> Result<bool, sqlx::error::BoxDynError> {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    let integer = matches!(ty, FieldType::Id | FieldType::Integer);
    let written = match (value, wire) {
        (Value::Null, _) => IsNull::Yes,
        (Value::Int(x), Wire::Int4) if integer => match i32::try_from(*x) {
            Ok(x) => Encode::<Postgres>::encode_by_ref(&x, buf)?,
            Err(_) => return Ok(false),
        },
        (Value::Int(x), Wire::Int2) if integer => match i16::try_from(*x) {
            Ok(x) => Encode::<Postgres>::encode_by_ref(&x, buf)?,
            Err(_) => return Ok(false),
        },
        (Value::Int(x), Wire::Numeric) if integer => {
            Encode::<Postgres>::encode_by_ref(&rust_decimal::Decimal::from(*x), buf)?
        }
        (Value::Float(x), Wire::Float4) if *ty == FieldType::Float => match to_float4(*x) {
            Some(x) => Encode::<Postgres>::encode_by_ref(&x, buf)?,
            None => return Ok(false),
        },
        (value, Wire::Bound) => match bound(buf, value, ty)? {
            Some(written) => written,
            None => return Err(misfit(value, ty, wire)),
        },
        (value, _) => return Err(misfit(value, ty, wire)),
    };
    let len = match written {
        IsNull::Yes => -1,
        IsNull::No => i32::try_from(buf.len() - start - 4)
            .map_err(|_| "a value longer than 2 GiB does not fit a COPY field")?,
    };
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
    Ok(true)
}

/// The error for a value of another kind than its column's.
fn misfit(value: &Value, ty: &FieldType, wire: Wire) -> sqlx::error::BoxDynError {
    format!(
        "value {} does not fit a `{}` column",
        value.to_json(),
        wire_type(ty, wire)
    )
    .into()
}

/// Appends a non-`NULL` value in the form of the type it is bound as; `None` when it is not
/// of that type.
fn bound(
    buf: &mut PgArgumentBuffer,
    value: &Value,
    ty: &FieldType,
) -> Result<Option<IsNull>, sqlx::error::BoxDynError> {
    Ok(Some(match (value, ty) {
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
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::unnest::tests::column;
    use super::*;

    /// `rows` of `columns` sent in `wire`, which must fit.
    fn encoded(columns: &[Column], wire: &[Wire], rows: &[Vec<Value>]) -> Vec<u8> {
        encode_rows(columns, wire, rows)
            .expect("encode")
            .expect("every value fits")
            .to_vec()
    }

    /// The COPY data of one row of one field whose binary form is `bytes`.
    fn one_field(bytes: &[u8]) -> Vec<u8> {
        let mut want = HEADER.to_vec();
        want.extend_from_slice(&1_i16.to_be_bytes());
        want.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        want.extend_from_slice(bytes);
        want.extend_from_slice(&(-1_i16).to_be_bytes());
        want
    }

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
        let data = encoded(&columns, &[Wire::Bound; 3], &rows);
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
        assert_eq!(data, want);
    }

    #[test]
    fn an_integer_goes_to_int4_as_four_bytes_and_to_int2_as_two() {
        let columns = [column("n", FieldType::Integer, false)];
        let rows = [vec![Value::Int(-2_147_483_648)]];
        assert_eq!(
            encoded(&columns, &[Wire::Int4], &rows),
            one_field(&i32::MIN.to_be_bytes())
        );
        let rows = [vec![Value::Int(32_767)]];
        assert_eq!(
            encoded(&columns, &[Wire::Int2], &rows),
            one_field(&i16::MAX.to_be_bytes())
        );
        let ids = [column("id", FieldType::Id, false)];
        assert_eq!(
            encoded(&ids, &[Wire::Int4], &[vec![Value::Int(7)]]),
            one_field(&7_i32.to_be_bytes())
        );
    }

    #[test]
    fn an_integer_goes_to_numeric_as_a_decimal_of_base_10000_digits() {
        let columns = [column("n", FieldType::Integer, false)];
        let data = encoded(
            &columns,
            &[Wire::Numeric],
            &[vec![Value::Int(-123_456_789)]],
        );
        // ndigits 3, weight 2, sign negative, dscale 0; digits 1, 2345, 6789.
        let mut numeric = Vec::new();
        for x in [3_i16, 2, 0x4000, 0, 1, 2345, 6789] {
            numeric.extend_from_slice(&x.to_be_bytes());
        }
        assert_eq!(data, one_field(&numeric));
    }

    #[test]
    fn a_float_goes_to_float4_as_the_nearest_single_precision_float() {
        let columns = [column("x", FieldType::Float, false)];
        for (x, want) in [
            (0.1_f64, 0.1_f32),
            (-2.5, -2.5),
            (1e-40, 1e-40),
            (f64::INFINITY, f32::INFINITY),
            (f64::NEG_INFINITY, f32::NEG_INFINITY),
            (-0.0, -0.0),
        ] {
            assert_eq!(
                encoded(&columns, &[Wire::Float4], &[vec![Value::Float(x)]]),
                one_field(&want.to_bits().to_be_bytes()),
                "{x}"
            );
        }
        let nan = encoded(&columns, &[Wire::Float4], &[vec![Value::Float(f64::NAN)]]);
        let bits = u32::from_be_bytes(nan[HEADER.len() + 6..HEADER.len() + 10].try_into().unwrap());
        assert!(f32::from_bits(bits).is_nan());
    }

    #[test]
    fn a_value_its_columns_form_cannot_hold_makes_the_batch_not_copied() {
        let int = [column("n", FieldType::Integer, false)];
        let float = [column("x", FieldType::Float, false)];
        for (columns, wire, value) in [
            (&int, Wire::Int4, Value::Int(2_147_483_648)),
            (&int, Wire::Int4, Value::Int(-2_147_483_649)),
            (&int, Wire::Int2, Value::Int(32_768)),
            (&int, Wire::Int2, Value::Int(-32_769)),
            (&float, Wire::Float4, Value::Float(1e39)),
            (&float, Wire::Float4, Value::Float(-1e300)),
            (&float, Wire::Float4, Value::Float(1e-50)),
        ] {
            // The first row fits; the second does not.
            let rows = [vec![Value::Null], vec![value.clone()]];
            let got = encode_rows(columns, &[wire], &rows).expect("no encode error");
            assert!(got.is_none(), "{value:?} as {wire:?}");
        }
    }

    #[test]
    fn a_value_of_another_type_is_an_encode_error_naming_the_column_and_row() {
        let columns = [
            column("id", FieldType::Integer, false),
            column("n", FieldType::Integer, false),
        ];
        let rows = [
            vec![Value::Int(1), Value::Int(1)],
            vec![Value::Int(2), Value::String("x".into())],
        ];
        let e = encode_rows(&columns, &[Wire::Bound, Wire::Int4], &rows).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"column `n`, row 2 of 2 in the batch: value "x" does not fit a `int4` column"#
        );
        let rows = [vec![Value::String("y".into())]];
        let e = encode_rows(&columns[..1], &[Wire::Bound], &rows).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"column `id`, row 1 of 1 in the batch: value "y" does not fit a `int8` column"#
        );
    }

    #[test]
    fn integers_go_to_int4_int2_and_numeric_floats_to_float4_and_nothing_inexact() {
        assert_eq!(wire_for("text", "varchar"), Some(Wire::Bound));
        assert_eq!(wire_for("timestamptz", "timestamp"), Some(Wire::Bound));
        assert_eq!(wire_for("jsonb", "jsonb"), Some(Wire::Bound));
        assert_eq!(wire_for("int8", "int4"), Some(Wire::Int4));
        assert_eq!(wire_for("int8", "int2"), Some(Wire::Int2));
        assert_eq!(wire_for("int8", "numeric"), Some(Wire::Numeric));
        assert_eq!(wire_for("float8", "float4"), Some(Wire::Float4));
        assert_eq!(wire_for("jsonb", "json"), None);
        assert_eq!(wire_for("float8", "numeric"), None);
        assert_eq!(wire_for("int8", "float8"), None);
        assert_eq!(wire_for("int8", "float4"), None);
        assert_eq!(wire_for("numeric", "int8"), None);
    }
}
