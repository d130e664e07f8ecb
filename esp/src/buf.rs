//! [`PacketBuf`]: one packet in a reusable buffer with headroom and tailroom.
//!
//! The packet occupies `data[head..head + len]`. Encapsulation grows it at both ends
//! (ESP header and IV in front, padding, trailer and ICV behind) and encrypts in place;
//! decapsulation shrinks it back to the inner packet. The IO layer reads a datagram
//! into [`PacketBuf::recv_area`] at a fixed headroom, and the same buffer travels
//! through the pipeline and back to the pool: no allocation per packet
//! (wireguard-go's `offset` does the same).

/// Default headroom: room for an outer IPv6 header (40) + UDP (8) for NAT-T + ESP header
/// (8) + a 16-octet CBC IV with a little to spare, so encapsulation never moves data.
pub const DEFAULT_HEADROOM: usize = 96;

/// Default capacity: a 9000-octet jumbo inner packet plus everything ESP adds.
pub const DEFAULT_CAPACITY: usize = 9216;

/// A packet and the spare room around it.
#[derive(Clone, PartialEq, Eq)]
pub struct PacketBuf {
    data: Box<[u8]>,
    head: usize,
    len: usize,
}

impl PacketBuf {
    /// An empty buffer of [`DEFAULT_CAPACITY`] octets, packet start at [`DEFAULT_HEADROOM`].
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_HEADROOM, DEFAULT_CAPACITY)
    }

    /// An empty buffer of `capacity` octets whose packet starts at `headroom`
    /// (clamped to the capacity).
    pub fn with_capacity(headroom: usize, capacity: usize) -> Self {
        Self {
            data: vec![0u8; capacity].into_boxed_slice(),
            head: headroom.min(capacity),
            len: 0,
        }
    }

    /// A buffer holding a copy of `packet` after [`DEFAULT_HEADROOM`], with at least
    /// [`DEFAULT_CAPACITY`] octets in all (more if the packet needs it).
    pub fn from_packet(packet: &[u8]) -> Self {
        let mut b = Self::with_capacity(
            DEFAULT_HEADROOM,
            DEFAULT_CAPACITY.max(DEFAULT_HEADROOM + packet.len() + 128),
        );
        b.set_packet(DEFAULT_HEADROOM, packet);
        b
    }

    /// Replace the contents with a copy of `packet` placed at `headroom`. Grows the
    /// buffer (an allocation) only if it is too small.
    pub fn set_packet(&mut self, headroom: usize, packet: &[u8]) {
        self.ensure_capacity(headroom + packet.len());
        self.head = headroom;
        self.len = packet.len();
        self.data[headroom..headroom + packet.len()].copy_from_slice(packet);
    }

    /// For the IO layer: empty the packet, put its start at `headroom` and return all
    /// the room after it to receive into. Follow with [`set_len`](Self::set_len).
    pub fn recv_area(&mut self, headroom: usize) -> &mut [u8] {
        self.head = headroom.min(self.data.len());
        self.len = 0;
        &mut self.data[self.head..]
    }

    /// Set the packet length after receiving into [`recv_area`](Self::recv_area);
    /// clamped to the room available.
    pub fn set_len(&mut self, len: usize) {
        self.len = len.min(self.data.len() - self.head);
    }

    /// The packet.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        &self.data[self.head..self.head + self.len]
    }

    /// The packet, writable.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.data[self.head..self.head + self.len]
    }

    /// Packet length in octets.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Octets free in front of the packet.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.head
    }

    /// Octets free behind the packet.
    #[inline]
    pub fn tailroom(&self) -> usize {
        self.data.len() - self.head - self.len
    }

    /// Total size of the underlying storage.
    pub fn capacity(&self) -> usize {
        self.data.len()
    }

    /// Empty the packet, keeping the storage (the start goes back to `headroom`).
    pub fn clear(&mut self, headroom: usize) {
        self.head = headroom.min(self.data.len());
        self.len = 0;
    }

    /// Grow the packet by `n` octets at the front and return them, or `None` if the
    /// headroom is too small (the packet is then unchanged).
    #[inline]
    pub fn push_front(&mut self, n: usize) -> Option<&mut [u8]> {
        let head = self.head.checked_sub(n)?;
        self.head = head;
        self.len += n;
        Some(&mut self.data[head..head + n])
    }

    /// Remove `n` octets from the front of the packet; `None` if it is shorter.
    #[inline]
    pub fn pull_front(&mut self, n: usize) -> Option<()> {
        if n > self.len {
            return None;
        }
        self.head += n;
        self.len -= n;
        Some(())
    }

    /// Grow the packet by `n` octets at the back and return them, or `None` if the
    /// tailroom is too small.
    #[inline]
    pub fn push_back(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.tailroom() {
            return None;
        }
        let start = self.head + self.len;
        self.len += n;
        Some(&mut self.data[start..start + n])
    }

    /// Shorten the packet to `len` octets (no effect if it is not longer).
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Make sure there are at least `front` octets of headroom and `back` of tailroom,
    /// moving the packet (and, only if the storage is too small, reallocating). The
    /// data path sizes its buffers so this never has to do anything.
    pub fn reserve(&mut self, front: usize, back: usize) {
        if self.head >= front && self.tailroom() >= back {
            return;
        }
        let need = front + self.len + back;
        if need > self.data.len() {
            let mut data = vec![0u8; need.max(DEFAULT_CAPACITY)].into_boxed_slice();
            data[front..front + self.len].copy_from_slice(self.as_slice());
            self.data = data;
        } else {
            // There is room in total: slide the packet so both ends fit.
            let new_head = front.max(self.head.min(self.data.len() - back - self.len));
            self.data
                .copy_within(self.head..self.head + self.len, new_head);
            self.head = new_head;
            return;
        }
        self.head = front;
    }

    fn ensure_capacity(&mut self, need: usize) {
        if need > self.data.len() {
            self.data = vec![0u8; need.max(DEFAULT_CAPACITY)].into_boxed_slice();
        }
    }
}

impl Default for PacketBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for PacketBuf {
    // Shows the geometry, not the contents: buffers hold plaintext.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketBuf")
            .field("headroom", &self.headroom())
            .field("len", &self.len)
            .field("tailroom", &self.tailroom())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_and_pull() {
        let mut b = PacketBuf::with_capacity(8, 32);
        b.set_packet(8, &[1, 2, 3]);
        assert_eq!(b.headroom(), 8);
        assert_eq!(b.tailroom(), 21);
        b.push_front(2).expect("room").copy_from_slice(&[9, 9]);
        b.push_back(1).expect("room")[0] = 7;
        assert_eq!(b.as_slice(), &[9, 9, 1, 2, 3, 7]);
        assert!(b.push_front(7).is_none());
        assert_eq!(b.as_slice(), &[9, 9, 1, 2, 3, 7]);
        assert!(b.push_back(100).is_none());
        b.pull_front(2).expect("long enough");
        b.truncate(3);
        assert_eq!(b.as_slice(), &[1, 2, 3]);
        assert!(b.pull_front(4).is_none());
    }

    #[test]
    fn reserve_slides_or_grows() {
        let mut b = PacketBuf::with_capacity(0, 16);
        b.set_packet(0, &[1, 2, 3, 4]);
        b.reserve(4, 4);
        assert!(b.headroom() >= 4 && b.tailroom() >= 4);
        assert_eq!(b.as_slice(), &[1, 2, 3, 4]);
        b.reserve(100, 100);
        assert!(b.headroom() >= 100 && b.tailroom() >= 100);
        assert_eq!(b.as_slice(), &[1, 2, 3, 4]);
    }

    #[test]
    fn recv_area_then_set_len() {
        let mut b = PacketBuf::with_capacity(4, 16);
        let area = b.recv_area(4);
        assert_eq!(area.len(), 12);
        area[..2].copy_from_slice(&[5, 6]);
        b.set_len(2);
        assert_eq!(b.as_slice(), &[5, 6]);
        b.set_len(1000);
        assert_eq!(b.len(), 12);
    }

    #[test]
    fn debug_shows_no_bytes() {
        let b = PacketBuf::from_packet(&[0xAB; 4]);
        let s = format!("{b:?}");
        assert!(
            !s.contains("171") && !s.to_lowercase().contains("ab,"),
            "{s}"
        );
    }
}
