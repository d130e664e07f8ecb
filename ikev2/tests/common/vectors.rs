//! Finding and reading the shared known-answer vectors (`shared/vectors/`, see its
//! README). Declared once by a test binary's `main.rs` (ikev2's `tests/crypto/`,
//! esp's `tests/common/`) with
//!
//! ```ignore
//! #[path = "../common/vectors.rs"]
//! mod vectors;
//! ```
//!
//! The directory is `$IKEV2D_VECTORS` if set, else `shared/vectors` beside the repository
//! root (`$CARGO_MANIFEST_DIR/../../shared/vectors` for a crate at the root). A missing
//! directory, file or field panics: a vector that cannot be read must fail the test,
//! never skip it.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// The vectors directory; panics with instructions if it does not exist.
pub fn dir() -> PathBuf {
    let (dir, how) = match std::env::var_os("IKEV2D_VECTORS") {
        Some(d) => (PathBuf::from(d), "from $IKEV2D_VECTORS"),
        None => (
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"),
            "shared/vectors beside the repository root",
        ),
    };
    assert!(
        dir.is_dir(),
        "known-answer vectors not found at {} ({how}). Check out `shared/` beside the \
         repository root or set IKEV2D_VECTORS to the vectors directory; tests never skip \
         missing vectors.",
        dir.display()
    );
    dir
}

/// A vector file parsed as JSON, e.g. `load("dh/curve25519_group31.json")`.
pub fn load(relative: &str) -> Value {
    let path = dir().join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read vector file {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("vector file {} is not JSON: {e}", path.display()))
}

/// The `vectors` list of a file, asserting it has exactly `expected` entries so that an
/// emptied or truncated file fails.
pub fn vectors<'a>(file: &'a Value, name: &str, expected: usize) -> &'a [Value] {
    let list = file["vectors"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: no `vectors` list"));
    assert_eq!(list.len(), expected, "{name}: number of vectors");
    list
}

/// A string field.
pub fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("vector {}: missing string field `{key}`", id(v)))
}

/// A hex field decoded to bytes (an empty string is zero bytes).
pub fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    let s = str_field(v, key);
    hex::decode(s).unwrap_or_else(|e| panic!("vector {}: field `{key}` is not hex: {e}", id(v)))
}

/// An unsigned integer field.
pub fn u64_field(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("vector {}: missing integer field `{key}`", id(v)))
}

/// The vector's `id` (or `name`), for messages.
pub fn id(v: &Value) -> &str {
    v["id"].as_str().or(v["name"].as_str()).unwrap_or("<no id>")
}
