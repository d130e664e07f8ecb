//! Reading captured packets typed or pasted by an operator.

use std::fmt;

/// Why a hex dump could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HexError {
    /// A character that is neither a hex digit nor a separator, at this character index.
    BadCharacter {
        index: usize,
        ch: char,
    },
    /// An odd number of hex digits.
    OddLength,
    Empty,
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HexError::BadCharacter { index, ch } => {
                write!(f, "not a hex digit: {ch:?} at character {index}")
            }
            HexError::OddLength => f.write_str("odd number of hex digits"),
            HexError::Empty => f.write_str("no hex digits in the input"),
        }
    }
}

impl std::error::Error for HexError {}

/// Parse a hex dump as operators paste it: whitespace, `:` and `-` separators and a
/// leading `0x` are accepted (Wireshark's "copy as hex stream", `xxd -p`, tcpdump).
pub fn parse_hex(text: &str) -> Result<Vec<u8>, HexError> {
    let text = text.trim();
    let text = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<u8> = None;
    for (index, ch) in text.chars().enumerate() {
        if ch.is_whitespace() || ch == ':' || ch == '-' {
            continue;
        }
        let Some(nibble) = ch.to_digit(16) else {
            return Err(HexError::BadCharacter { index, ch });
        };
        // to_digit(16) is at most 15, so the cast cannot truncate.
        let nibble = nibble as u8;
        match high.take() {
            None => high = Some(nibble),
            Some(h) => out.push((h << 4) | nibble),
        }
    }
    if high.is_some() {
        return Err(HexError::OddLength);
    }
    if out.is_empty() {
        return Err(HexError::Empty);
    }
    Ok(out)
}

/// On UDP port 4500 an IKE message is preceded by four zero octets, the non-ESP marker
/// (RFC 3948 section 2.2). An IKE SPIi is never zero, so four zeros at the start of a
/// datagram can only be the marker. Returns the message without it and whether it was there.
pub fn strip_non_esp_marker(datagram: &[u8]) -> (&[u8], bool) {
    match datagram {
        [0, 0, 0, 0, rest @ ..] => (rest, true),
        _ => (datagram, false),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_hex_dump_forms() {
        assert_eq!(parse_hex("0a0B ff").unwrap(), vec![0x0a, 0x0b, 0xff]);
        assert_eq!(parse_hex("0x0a:0b:ff\n").unwrap(), vec![0x0a, 0x0b, 0xff]);
        assert_eq!(parse_hex(" 0a-0b\tff ").unwrap(), vec![0x0a, 0x0b, 0xff]);
    }

    #[test]
    fn rejects_bad_hex() {
        assert_eq!(parse_hex("0a0"), Err(HexError::OddLength));
        assert_eq!(parse_hex("  "), Err(HexError::Empty));
        assert_eq!(
            parse_hex("0a zz"),
            Err(HexError::BadCharacter { index: 3, ch: 'z' })
        );
    }

    #[test]
    fn marker_is_stripped_only_when_present() {
        assert_eq!(
            strip_non_esp_marker(&[0, 0, 0, 0, 1, 2]),
            (&[1u8, 2][..], true)
        );
        assert_eq!(
            strip_non_esp_marker(&[0, 0, 0, 1, 2]),
            (&[0u8, 0, 0, 1, 2][..], false)
        );
        assert_eq!(strip_non_esp_marker(&[0, 0]), (&[0u8, 0][..], false));
    }
}
