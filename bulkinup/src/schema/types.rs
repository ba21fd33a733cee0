//! Field types (Ecto's) and the cast values they produce.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::error::Error;

/// The type of a schema field, named as in Ecto.
///
/// ```
/// use bulkinup::FieldType;
/// let t: FieldType = "array:integer".parse()?;
/// assert_eq!(t, FieldType::Array(Box::new(FieldType::Integer)));
/// assert_eq!(t.to_string(), "array:integer");
/// # Ok::<(), bulkinup::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldType {
    /// `id`: a 64-bit integer key.
    Id,
    /// `integer`: a 64-bit integer.
    Integer,
    /// `float`: a 64-bit float.
    Float,
    /// `decimal`: an exact decimal number.
    Decimal,
    /// `boolean`.
    Boolean,
    /// `string`: text.
    String,
    /// `binary`: bytes (a JSON string's UTF-8 bytes).
    Binary,
    /// `binary_id`: a UUID.
    BinaryId,
    /// `map`: a JSON object.
    Map,
    /// `array:<type>`: an array of the inner type.
    Array(Box<FieldType>),
    /// `date`: a calendar date.
    Date,
    /// `time`: a time of day, truncated to seconds.
    Time,
    /// `naive_datetime`: date and time without zone, truncated to seconds.
    NaiveDatetime,
    /// `naive_datetime_usec`: date and time without zone, with microseconds.
    NaiveDatetimeUsec,
    /// `utc_datetime`: a UTC timestamp, truncated to seconds.
    UtcDatetime,
    /// `utc_datetime_usec`: a UTC timestamp with microseconds.
    UtcDatetimeUsec,
    /// Internal: the JSON column holding an `embeds_one`/`embeds_many` association.
    #[doc(hidden)]
    Embed,
}

/// The names accepted by [`FieldType::from_str`].
pub const FIELD_TYPE_NAMES: &str = "id, integer, float, decimal, boolean, string, binary, binary_id, map, array:<type>, date, time, naive_datetime, naive_datetime_usec, utc_datetime, utc_datetime_usec";

impl FromStr for FieldType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "id" => FieldType::Id,
            "integer" => FieldType::Integer,
            "float" => FieldType::Float,
            "decimal" => FieldType::Decimal,
            "boolean" => FieldType::Boolean,
            "string" => FieldType::String,
            "binary" => FieldType::Binary,
            "binary_id" => FieldType::BinaryId,
            "map" => FieldType::Map,
            "date" => FieldType::Date,
            "time" => FieldType::Time,
            "naive_datetime" => FieldType::NaiveDatetime,
            "naive_datetime_usec" => FieldType::NaiveDatetimeUsec,
            "utc_datetime" => FieldType::UtcDatetime,
            "utc_datetime_usec" => FieldType::UtcDatetimeUsec,
            other => match other.strip_prefix("array:") {
                Some(inner) => FieldType::Array(Box::new(inner.parse()?)),
                None => {
                    return Err(Error::schema(
                        None,
                        None,
                        format!("unknown field type `{s}` (valid: {FIELD_TYPE_NAMES})"),
                    ));
                }
            },
        })
    }
}

impl FieldType {
    /// Whether values of this type are dates with a time (`naive_datetime*`,
    /// `utc_datetime*`): the types a `now()` value fits.
    pub fn is_datetime(&self) -> bool {
        matches!(
            self,
            FieldType::NaiveDatetime
                | FieldType::NaiveDatetimeUsec
                | FieldType::UtcDatetime
                | FieldType::UtcDatetimeUsec
        )
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            FieldType::Id => "id",
            FieldType::Integer => "integer",
            FieldType::Float => "float",
            FieldType::Decimal => "decimal",
            FieldType::Boolean => "boolean",
            FieldType::String => "string",
            FieldType::Binary => "binary",
            FieldType::BinaryId => "binary_id",
            FieldType::Map => "map",
            FieldType::Array(inner) => return write!(f, "array:{inner}"),
            FieldType::Date => "date",
            FieldType::Time => "time",
            FieldType::NaiveDatetime => "naive_datetime",
            FieldType::NaiveDatetimeUsec => "naive_datetime_usec",
            FieldType::UtcDatetime => "utc_datetime",
            FieldType::UtcDatetimeUsec => "utc_datetime_usec",
            FieldType::Embed => "embed",
        };
        f.write_str(s)
    }
}

/// A value after casting: what is bound to the database.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer (`id`, `integer`).
    Int(i64),
    /// A float.
    Float(f64),
    /// An exact decimal.
    Decimal(Decimal),
    /// Text.
    String(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A UUID.
    Uuid(Uuid),
    /// JSON (`map` fields and embeds).
    Json(serde_json::Value),
    /// A date.
    Date(NaiveDate),
    /// A time of day.
    Time(NaiveTime),
    /// A naive date-time.
    NaiveDateTime(NaiveDateTime),
    /// A UTC date-time.
    UtcDateTime(DateTime<Utc>),
    /// An array (`array:<type>`).
    Array(Vec<Value>),
}

impl Value {
    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value of a column whose type no schema declares (join-table placeholders and
    /// `join_defaults`): an RFC 3339 date-time string is a UTC timestamp, other strings text,
    /// numbers and booleans themselves, objects and arrays JSON.
    pub(crate) fn guess_from_json(v: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => n
                .as_i64()
                .map(Value::Int)
                .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0))),
            J::String(s) => DateTime::parse_from_rfc3339(s)
                .map(|t| Value::UtcDateTime(t.with_timezone(&Utc)))
                .unwrap_or_else(|_| Value::String(s.clone())),
            other => Value::Json(other.clone()),
        }
    }

    /// The value as JSON, as it is embedded, reported and compared.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Decimal(d) => J::String(d.to_string()),
            Value::String(s) => J::String(s.clone()),
            Value::Bytes(b) => J::String(String::from_utf8_lossy(b).into_owned()),
            Value::Uuid(u) => J::String(u.to_string()),
            Value::Json(j) => j.clone(),
            Value::Date(d) => J::String(d.format("%Y-%m-%d").to_string()),
            Value::Time(t) => J::String(t.format("%H:%M:%S%.f").to_string()),
            Value::NaiveDateTime(t) => J::String(t.format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
            Value::UtcDateTime(t) => J::String(t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string()),
            Value::Array(a) => J::Array(a.iter().map(Value::to_json).collect()),
        }
    }
}

/// A hashable identity of a value, used to de-duplicate rows by their conflict key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum KeyPart {
    Null,
    Int(i64),
    Text(String),
    Other(String),
}

impl From<&Value> for KeyPart {
    fn from(v: &Value) -> Self {
        match v {
            Value::Null => KeyPart::Null,
            Value::Int(i) => KeyPart::Int(*i),
            Value::String(s) => KeyPart::Text(s.clone()),
            other => KeyPart::Other(other.to_json().to_string()),
        }
    }
}

/// A TOML value as JSON — the one conversion, for the schema file's values (defaults,
/// inclusion lists) and its `[options]`: dates and times become their RFC 3339 text; a float
/// JSON cannot hold (NaN, infinity) is refused, returned as the error.
pub(crate) fn toml_to_json(value: &toml::Value) -> std::result::Result<serde_json::Value, f64> {
    use serde_json::Value as J;
    Ok(match value {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(n) => J::from(*n),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map(J::Number).ok_or(*f)?,
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(items) => {
            J::Array(items.iter().map(toml_to_json).collect::<Result<_, _>>()?)
        }
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| Ok((k.clone(), toml_to_json(v)?)))
                .collect::<Result<_, f64>>()?,
        ),
    })
}
