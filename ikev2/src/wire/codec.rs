//! Bounded reading and length-patched writing, shared by all payloads.
//!
//! [`Reader`] is the only place that slices input: every read is a checked `get`, so
//! no input can make the parsers index out of bounds. Offsets in errors are absolute
//! (`base` + position).

use super::error::{Error, ErrorKind};

/// A cursor over a byte slice that remembers where the slice sits in the message.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, whose first byte is at offset `base` of the message.
    pub(crate) fn new(buf: &'a [u8], base: usize, what: &'static str) -> Self {
        Self {
            buf,
            pos: 0,
            base,
            what,
        }
    }

    /// Absolute offset of the next unread byte.
    pub(crate) fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// An error of `kind` at the current position.
    pub(crate) fn err(&self, kind: ErrorKind) -> Error {
        Error::new(kind, self.offset(), self.what)
    }

    /// An error of `kind` at absolute offset `offset`.
    pub(crate) fn err_at(&self, kind: ErrorKind, offset: usize) -> Error {
        Error::new(kind, offset, self.what)
    }

    /// The next `n` bytes, or `Truncated` (without consuming anything).
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| self.err(ErrorKind::Truncated))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| self.err(ErrorKind::Truncated))?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = self.buf.get(self.pos..).unwrap_or_default();
        self.pos = self.buf.len();
        s
    }

    /// A reader over the next `n` bytes, reporting errors as `what`. A length that
    /// runs past the end is `BadLength` at `len_field_at` (the structure start).
    pub(crate) fn sub(
        &mut self,
        n: usize,
        len_field_at: usize,
        what: &'static str,
    ) -> Result<Reader<'a>, Error> {
        let base = self.offset();
        let s = self
            .take(n)
            .map_err(|_| Error::new(ErrorKind::BadLength, len_field_at, what))?;
        Ok(Reader::new(s, base, what))
    }

    /// Succeeds only if everything was read.
    pub(crate) fn finish(&self) -> Result<(), Error> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.err(ErrorKind::TrailingData))
        }
    }
}

/// Appends big-endian integers and patches length fields afterwards.
pub(crate) trait WriteExt {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put(&mut self, s: &[u8]);
    /// Writes `out.len() - start` as a u16 at `at` (two bytes reserved earlier).
    fn patch_len16(&mut self, at: usize, start: usize, what: &'static str) -> Result<(), Error>;
}

impl WriteExt for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }

    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes());
    }

    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }

    fn put(&mut self, s: &[u8]) {
        self.extend_from_slice(s);
    }

    fn patch_len16(&mut self, at: usize, start: usize, what: &'static str) -> Result<(), Error> {
        let len = self.len().saturating_sub(start);
        let v = u16::try_from(len).map_err(|_| Error::new(ErrorKind::TooLarge, start, what))?;
        self.get_mut(at..at.saturating_add(2))
            .expect("the caller reserved two bytes for this length field")
            .copy_from_slice(&v.to_be_bytes());
        Ok(())
    }
}

/// `n` as a u8 count or size field, or `TooLarge` at `offset`.
pub(crate) fn count_u8(n: usize, offset: usize, what: &'static str) -> Result<u8, Error> {
    u8::try_from(n).map_err(|_| Error::new(ErrorKind::TooLarge, offset, what))
}

/// `n` as a u16 count or size field, or `TooLarge` at `offset`.
pub(crate) fn count_u16(n: usize, offset: usize, what: &'static str) -> Result<u16, Error> {
    u16::try_from(n).map_err(|_| Error::new(ErrorKind::TooLarge, offset, what))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded() {
        let mut r = Reader::new(&[1, 2, 3], 10, "test");
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(r.offset(), 12);
        let e = r.u16().unwrap_err();
        assert_eq!((e.kind(), e.offset()), (ErrorKind::Truncated, 12));
        // a failed read consumes nothing
        assert_eq!(r.u8(), Ok(3));
        assert!(r.finish().is_ok());
        assert_eq!(r.take(usize::MAX).unwrap_err().kind(), ErrorKind::Truncated);
    }

    #[test]
    fn sub_reader_past_end_is_bad_length() {
        let mut r = Reader::new(&[0; 4], 0, "outer");
        let e = r.sub(5, 0, "inner").unwrap_err();
        assert_eq!(
            (e.kind(), e.offset(), e.structure()),
            (ErrorKind::BadLength, 0, "inner")
        );
    }

    #[test]
    fn length_patch_overflow() {
        let mut v = vec![0u8; 2];
        v.resize(70_000, 0);
        assert_eq!(
            v.patch_len16(0, 0, "x").unwrap_err().kind(),
            ErrorKind::TooLarge
        );
        let mut v = vec![0u8; 4];
        assert!(v.patch_len16(0, 0, "x").is_ok());
        assert_eq!(v, [0, 4, 0, 0]);
    }
}
