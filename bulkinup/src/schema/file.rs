//! The TOML schema file.
