//! PostgreSQL's catalog queries (`pg_catalog`), read by [`crate::catalog`] through
//! [`Dialect`](crate::dialect::Dialect)'s catalog methods. Each reads the schema `$1` (the
//! prefix), else `current_schema()` when `$1` is `NULL`.

/// [`Dialect::prefix_exists_sql`](crate::dialect::Dialect::prefix_exists_sql): the schema `$1`.
pub(super) const PREFIX_EXISTS: &str = "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1";

/// [`Dialect::catalog_columns_sql`](crate::dialect::Dialect::catalog_columns_sql).
pub(super) const COLUMNS: &str = r#"SELECT c.relname::text AS table_name, a.attname::text AS column_name,
       (CASE WHEN t.typtype = 'd' THEN bt.typname ELSE t.typname END)::text AS data_type,
       format_type(a.atttypid, a.atttypmod) AS column_type,
       a.attnotnull AS not_null,
       (a.atthasdef OR a.attidentity <> '') AS has_default,
       COALESCE(array_position(pk.conkey, a.attnum), 0)::int8 AS pk_position,
       (a.attidentity <> '' OR COALESCE(pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false)) AS is_identity,
       (a.attgenerated <> '') AS is_generated
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
LEFT JOIN pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p'
WHERE n.nspname = COALESCE($1::text, current_schema()) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname, a.attnum"#;

/// [`Dialect::catalog_unique_keys_sql`](crate::dialect::Dialect::catalog_unique_keys_sql).
pub(super) const UNIQUE_KEYS: &str = r#"SELECT c.relname::text AS table_name, i.relname::text AS key_name, k.ord::int8 AS position,
       a.attname::text AS column_name
FROM pg_index x
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class i ON i.oid = x.indexrelid
CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
WHERE n.nspname = COALESCE($1::text, current_schema()) AND x.indisunique AND x.indimmediate
  AND x.indpred IS NULL AND x.indexprs IS NULL AND k.ord <= x.indnkeyatts
ORDER BY 1, 2, 3"#;

/// [`Dialect::catalog_foreign_keys_sql`](crate::dialect::Dialect::catalog_foreign_keys_sql).
pub(super) const FOREIGN_KEYS: &str = r#"SELECT c.relname::text AS table_name, con.conname::text AS constraint_name, k.ord::int8 AS position,
       a.attname::text AS column_name, rc.relname::text AS ref_table, ra.attname::text AS ref_column
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class rc ON rc.oid = con.confrelid
JOIN pg_namespace rn ON rn.oid = rc.relnamespace
CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, refnum, ord)
JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = k.refnum
WHERE con.contype = 'f' AND con.conparentid = 0
  AND n.nspname = COALESCE($1::text, current_schema()) AND rn.nspname = COALESCE($1::text, current_schema())
ORDER BY 1, 2, 3"#;
