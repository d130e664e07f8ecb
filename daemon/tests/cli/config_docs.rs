//! docs/configuration.md documents every key the parser accepts and every strongSwan
//! key it rejects as unsupported.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use ikev2d::config::{DaemonConfig, LoadError, UNSUPPORTED_KEYS};

const DOC: &str = include_str!("../../../docs/configuration.md");

/// The keys a table accepts, from the unknown-key error's "expected one of" list.
fn accepted_keys(table: &str) -> Vec<String> {
    let text = format!("{table}\nzzz_unknown = 1\n");
    let Err(LoadError::Invalid(f)) = DaemonConfig::parse(&text, Path::new(".")) else {
        panic!("{table}")
    };
    let m = &f[0].message;
    let list = m.split_once("expected ").unwrap().1;
    list.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, k)| k.to_owned())
        .collect()
}

#[test]
fn every_key_is_documented() {
    let tables = [
        "[daemon]",
        "[control]",
        "[metrics]",
        "[connections.c]",
        "[connections.c.local]",
        "[connections.c.children.k]",
    ];
    let mut n = 0;
    for t in tables {
        for k in accepted_keys(t) {
            n += 1;
            assert!(
                DOC.contains(&format!("| `{k}` |")),
                "{t} {k} is not in the reference table"
            );
        }
    }
    assert!(n > 50, "{n}");
    for k in ["id", "ids", "secret", "secret_file"] {
        assert!(DOC.contains(&format!("`{k}`")), "{k}");
    }
}

#[test]
fn every_unsupported_key_is_listed() {
    for (k, _) in UNSUPPORTED_KEYS {
        assert!(DOC.contains(&format!("`{k}`")), "{k}");
    }
}
