//! Byte strings that are secret: keys, shared secrets, PSKs.

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Secret bytes: zeroized on drop, never shown by `Debug`, compared in constant time.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// The secret itself. Callers must not log or format it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Split off the first `n` bytes into a new secret (used to carve SK_* out of
    /// prf+ output). Panics never: `n` is clamped to the length.
    pub fn take_front(&mut self, n: usize) -> SecretBytes {
        let n = n.min(self.0.len());
        let rest = self.0.split_off(n);
        let front = std::mem::replace(&mut self.0, rest);
        SecretBytes(front)
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for SecretBytes {}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let s = SecretBytes::from_slice(b"hunter2hunter2");
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("14 bytes"), "{shown}");
    }

    #[test]
    fn take_front_splits() {
        let mut s = SecretBytes::from_slice(&[1, 2, 3, 4, 5]);
        let a = s.take_front(2);
        assert_eq!(a.expose(), &[1, 2]);
        assert_eq!(s.expose(), &[3, 4, 5]);
        let b = s.take_front(10);
        assert_eq!(b.expose(), &[3, 4, 5]);
        assert!(s.is_empty());
    }
}
