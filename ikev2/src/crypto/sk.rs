//! Protecting and unprotecting the Encrypted and Authenticated payload (SK, RFC 7296
//! section 3.14) and Encrypted Fragments (SKF, RFC 7383 section 2.5) of IKE messages.
//!
//! This module works on raw message bytes and does not use the wire parser: the caller
//! gives the 28-octet IKE header it wants and the already serialized inner payloads,
//! and gets whole messages back; on receipt it gives the message and (optionally) the
//! offset of the SK/SKF payload.
//!
//! ```text
//! IKE header (28) | [unprotected payloads] | SK generic header (4) | IV | C | ICV
//! IKE header (28) | SKF generic header (4) | Fragment Number (2) | Total (2) | IV | C | ICV
//! C = Encrypt(inner payloads | padding | pad length (1))
//! ```
//!
//! - **AAD / ICV coverage**: every octet of the message before the IV (RFC 5282
//!   section 5.1, RFC 7383 section 2.5). For AES-CBC the ICV is the truncated HMAC of
//!   everything before the ICV itself, with the length fields already final.
//! - **IVs**: random for AES-CBC (RFC 7296 section 3.14 requires unpredictable IVs). For
//!   the AEADs a 64-bit counter per [`SkProtector`], started at a random value drawn from
//!   the caller's RNG at the first encryption and incremented for every message
//!   (including every fragment); it refuses to wrap. See `docs/crypto-sk.md`.
//! - **Padding**: AES-CBC pads with zeros to a multiple of 16; the AEADs send a pad
//!   length of 0. On receipt any padding content and any pad length that fits is
//!   accepted (RFC 7296 section 3.14).
//! - **Order on receipt**: lengths are checked, then the ICV/tag is verified in constant
//!   time, and only then is anything decrypted or looked at.

use std::ops::Range;

use rand_core::{CryptoRng, RngCore};

use super::algorithms::{EncrAlgorithm, IntegAlgorithm};
use super::cipher::{CryptoError, IkeCipher};
use crate::wire::PayloadType;

mod reassembly;
pub use reassembly::{FragmentAssembler, FragmentLimits, Reassembly, ReassemblyError};

/// Length of the fixed IKE header (RFC 7296 section 3.1).
pub const IKE_HEADER_LEN: usize = 28;

/// Length of the generic payload header (RFC 7296 section 3.2).
pub const GENERIC_HEADER_LEN: usize = 4;

/// Length of the SKF payload header: generic header, Fragment Number, Total Fragments.
pub const SKF_HEADER_LEN: usize = 8;

/// Offset of the next-payload octet in the IKE header.
const HDR_NEXT_PAYLOAD: usize = 16;
/// Offset of the 4-octet length in the IKE header.
const HDR_LENGTH: usize = 24;

/// The most fragments a message can be cut into (the fields have 16 bits).
pub const MAX_FRAGMENTS: usize = 0xffff;

/// Errors protecting or unprotecting SK and SKF payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SkError {
    /// The message ends before the fields it must have.
    #[error("message truncated")]
    Truncated,
    /// A length field disagrees with the message (IKE header length, payload length,
    /// the SK/SKF payload not ending the message, CBC data not a whole number of blocks).
    #[error("inconsistent length")]
    BadLength,
    /// The ICV or AEAD tag did not verify. Nothing was decrypted.
    #[error("integrity check failed")]
    IntegrityCheckFailed,
    /// The pad length octet points before the start of the plaintext.
    #[error("bad padding")]
    BadPadding,
    /// The message has no SK or SKF payload (when searching for one).
    #[error("no SK or SKF payload")]
    NoEncryptedPayload,
    /// Fragment Number is 0 or greater than Total Fragments (RFC 7383 section 2.6).
    #[error("bad fragment number")]
    BadFragmentNumber,
    /// The SK/SKF payload would exceed 65535 octets, or the message 2^32 - 1.
    #[error("message too large")]
    TooLarge,
    /// Not even one octet of payload fits in a fragment of the given size.
    #[error("message size limit {max} too small: a fragment needs at least {min} octets")]
    LimitTooSmall { min: usize, max: usize },
    /// Splitting would need more than 65535 fragments.
    #[error("more than 65535 fragments needed")]
    TooManyFragments,
    /// The unprotected payloads to send before the SK payload are not a valid chain.
    #[error("malformed unprotected payloads")]
    BadUnprotectedPayloads,
    /// 2^64 messages were protected with one AEAD key.
    #[error("AEAD IV space exhausted; rekey the IKE SA")]
    IvExhausted,
    /// Any other error from the primitives (should not happen once lengths are checked).
    #[error("crypto error: {0}")]
    Crypto(CryptoError),
}

impl From<CryptoError> for SkError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::IntegrityCheckFailed => SkError::IntegrityCheckFailed,
            other => SkError::Crypto(other),
        }
    }
}

/// Payloads sent in the clear before the SK payload (RFC 7296 section 3.14 allows it;
/// rarely used). `payloads` is a chain of complete payloads; the next-payload field of
/// the last one is overwritten with SK.
#[derive(Debug, Clone, Copy)]
pub struct Unprotected<'a> {
    /// Type of the first payload in `payloads`.
    pub first: PayloadType,
    pub payloads: &'a [u8],
}

/// The decrypted content of an SK payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkPlaintext {
    /// Type of the first inner payload (the SK payload's next-payload field).
    pub next_payload: PayloadType,
    /// The inner payloads, padding and pad length removed.
    pub payloads: Vec<u8>,
}

/// One decrypted SKF fragment (RFC 7383 section 2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// 1-based.
    pub number: u16,
    pub total: u16,
    /// Type of the first inner payload in fragment 1; 0 in the others.
    pub next_payload: PayloadType,
    /// This fragment's chunk of the inner payloads.
    pub payloads: Vec<u8>,
}

/// What [`SkProtector::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    Message(SkPlaintext),
    Fragment(Fragment),
}

/// The SK protection of one IKE SA: outbound keys (SK_ei/SK_ai at the initiator,
/// SK_er/SK_ar at the responder) and inbound keys (the other pair).
///
/// Not `Clone`: it owns the AEAD IV counter of the outbound key. Build one per IKE SA
/// (a rekeyed SA has new keys and a new protector).
pub struct SkProtector {
    outbound: IkeCipher,
    inbound: IkeCipher,
    iv: Option<IvCounter>,
}

/// AEAD IV state: `next` is the IV of the next message, `used` how many were issued.
#[derive(Debug, Clone, Copy)]
struct IvCounter {
    next: u64,
    used: u64,
}

/// Octet layout of one protected SK/SKF payload, computed once per message.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// Octets of the SK/SKF payload header (4 or 8).
    header: usize,
    iv: usize,
    /// Plaintext length including padding and pad length octet.
    padded: usize,
    pad: usize,
    icv: usize,
}

impl Layout {
    fn payload_len(&self) -> usize {
        self.header + self.iv + self.padded + self.icv
    }
}

impl SkProtector {
    /// From the two directions' ciphers.
    pub fn new(outbound: IkeCipher, inbound: IkeCipher) -> Self {
        Self {
            outbound,
            inbound,
            iv: None,
        }
    }

    /// The protector of the IKE SA initiator: sends with SK_ei/SK_ai, receives with
    /// SK_er/SK_ar. The SK_a* are empty for an AEAD.
    pub fn initiator(
        encr: EncrAlgorithm,
        integ: Option<IntegAlgorithm>,
        sk_ei: &[u8],
        sk_ai: &[u8],
        sk_er: &[u8],
        sk_ar: &[u8],
    ) -> Result<Self, CryptoError> {
        Ok(Self::new(
            IkeCipher::new(encr, integ, sk_ei, sk_ai)?,
            IkeCipher::new(encr, integ, sk_er, sk_ar)?,
        ))
    }

    /// The protector of the IKE SA responder: sends with SK_er/SK_ar, receives with
    /// SK_ei/SK_ai.
    pub fn responder(
        encr: EncrAlgorithm,
        integ: Option<IntegAlgorithm>,
        sk_ei: &[u8],
        sk_ai: &[u8],
        sk_er: &[u8],
        sk_ar: &[u8],
    ) -> Result<Self, CryptoError> {
        Ok(Self::new(
            IkeCipher::new(encr, integ, sk_er, sk_ar)?,
            IkeCipher::new(encr, integ, sk_ei, sk_ai)?,
        ))
    }

    pub fn encr(&self) -> EncrAlgorithm {
        self.outbound.encr()
    }

    pub fn integ(&self) -> Option<IntegAlgorithm> {
        self.outbound.integ()
    }

    // -- sizes -----------------------------------------------------------------------

    fn layout(&self, header: usize, inner_len: usize) -> Layout {
        let block = self.outbound.block_len();
        let unpadded = inner_len + 1;
        let padded = unpadded.div_ceil(block) * block;
        Layout {
            header,
            iv: self.outbound.iv_len(),
            padded,
            pad: padded - unpadded,
            icv: self.outbound.icv_len(),
        }
    }

    /// Length of the SK payload (generic header included) carrying `inner_len` octets of
    /// inner payloads.
    pub fn sk_payload_len(&self, inner_len: usize) -> usize {
        self.layout(GENERIC_HEADER_LEN, inner_len).payload_len()
    }

    /// Exact length of the message [`encrypt_message_into`](Self::encrypt_message_into)
    /// produces for `unprotected_len` octets of clear payloads and `inner_len` octets of
    /// inner payloads.
    pub fn message_len(&self, unprotected_len: usize, inner_len: usize) -> usize {
        IKE_HEADER_LEN + unprotected_len + self.sk_payload_len(inner_len)
    }

    /// Octets the SK encoding adds to `inner_len` octets of inner payloads, IKE header
    /// included: `message_len(0, inner_len) - inner_len`.
    pub fn overhead(&self, inner_len: usize) -> usize {
        self.message_len(0, inner_len) - inner_len
    }

    /// The most inner-payload octets one SKF fragment of at most `max_message_len`
    /// octets (IKE header included) can carry.
    pub fn fragment_capacity(&self, max_message_len: usize) -> Result<usize, SkError> {
        let fixed = IKE_HEADER_LEN + SKF_HEADER_LEN + self.outbound.iv_len();
        let icv = self.outbound.icv_len();
        let block = self.outbound.block_len();
        // One octet of payload plus the pad length octet, rounded up to a block.
        let min = fixed + 2usize.div_ceil(block) * block + icv;
        if max_message_len < min {
            return Err(SkError::LimitTooSmall {
                min,
                max: max_message_len,
            });
        }
        // The SKF payload length field has 16 bits.
        let max_payload = max_message_len.min(IKE_HEADER_LEN + 0xffff);
        let room = max_payload - fixed - icv;
        let padded = room / block * block;
        Ok(padded - 1)
    }

    /// How many fragments [`encrypt_fragments`](Self::encrypt_fragments) makes.
    pub fn fragment_count(
        &self,
        inner_len: usize,
        max_message_len: usize,
    ) -> Result<usize, SkError> {
        let cap = self.fragment_capacity(max_message_len)?;
        let n = inner_len.div_ceil(cap).max(1);
        if n > MAX_FRAGMENTS {
            return Err(SkError::TooManyFragments);
        }
        Ok(n)
    }

    // -- sending ---------------------------------------------------------------------

    /// Build a complete IKE message: `header` with next payload SK and the final length,
    /// then the SK payload carrying `inner` (a serialized payload chain whose first
    /// payload has type `first_inner`).
    pub fn encrypt_message<R: RngCore + CryptoRng>(
        &mut self,
        header: &[u8; IKE_HEADER_LEN],
        first_inner: PayloadType,
        inner: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, SkError> {
        let mut out = Vec::with_capacity(self.message_len(0, inner.len()));
        self.encrypt_message_into(&mut out, header, None, first_inner, inner, rng)?;
        Ok(out)
    }

    /// Like [`encrypt_message`](Self::encrypt_message), appending to `out` (the message
    /// starts at `out.len()`, so a caller can leave room for the non-ESP marker), with
    /// optional clear payloads before the SK payload. Returns the message's range in
    /// `out`. On error `out` is left as it was.
    pub fn encrypt_message_into<R: RngCore + CryptoRng>(
        &mut self,
        out: &mut Vec<u8>,
        header: &[u8; IKE_HEADER_LEN],
        unprotected: Option<Unprotected<'_>>,
        first_inner: PayloadType,
        inner: &[u8],
        rng: &mut R,
    ) -> Result<Range<usize>, SkError> {
        let last_clear = match &unprotected {
            Some(u) => Some(last_payload_offset(u.payloads)?),
            None => None,
        };
        let start = out.len();
        let first = unprotected.as_ref().map_or(PayloadType::SK, |u| u.first);
        let result = self.seal_payload(
            out,
            header,
            first,
            unprotected.map_or(&[][..], |u| u.payloads),
            last_clear,
            PayloadType::SK,
            None,
            first_inner,
            inner,
            rng,
        );
        match result {
            Ok(()) => Ok(start..out.len()),
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// Split `inner` into SKF fragments (RFC 7383 section 2.5) so that every message is at
    /// most `max_message_len` octets from the first octet of the IKE header.
    ///
    /// `max_message_len` is the datagram budget left for IKE: see
    /// [`ike_message_budget`] for turning a path MTU into it. Fragment 1 carries
    /// `first_inner` as next payload, the others 0; all carry `header`'s SPIs, exchange,
    /// flags and message ID. Every fragment gets its own IV.
    pub fn encrypt_fragments<R: RngCore + CryptoRng>(
        &mut self,
        header: &[u8; IKE_HEADER_LEN],
        first_inner: PayloadType,
        inner: &[u8],
        max_message_len: usize,
        rng: &mut R,
    ) -> Result<Vec<Vec<u8>>, SkError> {
        let cap = self.fragment_capacity(max_message_len)?;
        let total = self.fragment_count(inner.len(), max_message_len)?;
        let total16 = u16::try_from(total).map_err(|_| SkError::TooManyFragments)?;
        let mut chunks = inner.chunks(cap);
        let mut fragments = Vec::with_capacity(total);
        for number in 1..=total16 {
            let chunk = chunks.next().unwrap_or(&[]);
            let next = if number == 1 {
                first_inner
            } else {
                PayloadType::NO_NEXT_PAYLOAD
            };
            let mut out = Vec::with_capacity(max_message_len.min(IKE_HEADER_LEN + 0xffff));
            self.seal_payload(
                &mut out,
                header,
                PayloadType::SKF,
                &[],
                None,
                PayloadType::SKF,
                Some((number, total16)),
                next,
                chunk,
                rng,
            )?;
            fragments.push(out);
        }
        Ok(fragments)
    }

    fn next_iv<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        iv: &mut [u8],
    ) -> Result<(), SkError> {
        if !self.outbound.is_aead() {
            // RFC 7296 section 3.14: CBC IVs MUST be random and unpredictable.
            rng.fill_bytes(iv);
            return Ok(());
        }
        let counter = self.iv.get_or_insert_with(|| {
            // Random start: two protectors accidentally built from the same key would
            // need overlapping ranges of a 2^64 space to repeat an IV.
            let mut start = [0u8; 8];
            rng.fill_bytes(&mut start);
            IvCounter {
                next: u64::from_be_bytes(start),
                used: 0,
            }
        });
        if counter.used == u64::MAX {
            return Err(SkError::IvExhausted);
        }
        iv.copy_from_slice(&counter.next.to_be_bytes());
        counter.next = counter.next.wrapping_add(1);
        counter.used += 1;
        Ok(())
    }

    /// Append one protected message to `out`.
    #[allow(clippy::too_many_arguments)]
    fn seal_payload<R: RngCore + CryptoRng>(
        &mut self,
        out: &mut Vec<u8>,
        header: &[u8; IKE_HEADER_LEN],
        first_payload: PayloadType,
        clear: &[u8],
        last_clear: Option<usize>,
        payload_type: PayloadType,
        fragment: Option<(u16, u16)>,
        next_payload: PayloadType,
        inner: &[u8],
        rng: &mut R,
    ) -> Result<(), SkError> {
        let hlen = if fragment.is_some() {
            SKF_HEADER_LEN
        } else {
            GENERIC_HEADER_LEN
        };
        let layout = self.layout(hlen, inner.len());
        let payload_len = u16::try_from(layout.payload_len()).map_err(|_| SkError::TooLarge)?;
        let total = IKE_HEADER_LEN + clear.len() + usize::from(payload_len);
        let total32 = u32::try_from(total).map_err(|_| SkError::TooLarge)?;

        let start = out.len();
        out.reserve(total);
        out.extend_from_slice(header);
        out[start + HDR_NEXT_PAYLOAD] = first_payload.0;
        out[start + HDR_LENGTH..start + IKE_HEADER_LEN].copy_from_slice(&total32.to_be_bytes());
        out.extend_from_slice(clear);
        if let Some(last) = last_clear {
            out[start + IKE_HEADER_LEN + last] = payload_type.0;
        }
        out.push(next_payload.0);
        out.push(0); // critical bit and reserved
        out.extend_from_slice(&payload_len.to_be_bytes());
        if let Some((number, total)) = fragment {
            out.extend_from_slice(&number.to_be_bytes());
            out.extend_from_slice(&total.to_be_bytes());
        }
        let iv_start = out.len();
        out.resize(iv_start + layout.iv, 0);
        self.next_iv(rng, &mut out[iv_start..])?;
        let ct_start = out.len();
        out.extend_from_slice(inner);
        out.resize(out.len() + layout.pad, 0);
        // layout.pad < block_len (16) by construction.
        out.push(layout.pad as u8);
        let icv_start = out.len();
        out.resize(icv_start + layout.icv, 0);
        debug_assert_eq!(out.len() - start, total);

        let (aad_iv, rest) = out[start..].split_at_mut(ct_start - start);
        let (aad, iv) = aad_iv.split_at(iv_start - start);
        let (ct, icv) = rest.split_at_mut(icv_start - ct_start);
        self.outbound.seal_in_place(aad, iv, ct, icv)?;
        Ok(())
    }

    // -- receiving -------------------------------------------------------------------

    /// Verify and decrypt the SK payload that starts at `sk_offset` (its generic header)
    /// and must end the message. `message` starts with the IKE header.
    pub fn decrypt_message(
        &self,
        message: &[u8],
        sk_offset: usize,
    ) -> Result<SkPlaintext, SkError> {
        let (next_payload, payloads) = self.open_payload(message, sk_offset, GENERIC_HEADER_LEN)?;
        Ok(SkPlaintext {
            next_payload,
            payloads,
        })
    }

    /// Verify and decrypt the SKF payload at `skf_offset`.
    pub fn decrypt_fragment(&self, message: &[u8], skf_offset: usize) -> Result<Fragment, SkError> {
        let fields = skf_offset
            .checked_add(GENERIC_HEADER_LEN)
            .and_then(|o| message.get(o..))
            .and_then(|rest| rest.get(..4))
            .ok_or(SkError::Truncated)?;
        let number = u16::from_be_bytes([fields[0], fields[1]]);
        let total = u16::from_be_bytes([fields[2], fields[3]]);
        if number == 0 || total == 0 || number > total {
            return Err(SkError::BadFragmentNumber);
        }
        let (next_payload, payloads) = self.open_payload(message, skf_offset, SKF_HEADER_LEN)?;
        Ok(Fragment {
            number,
            total,
            next_payload,
            payloads,
        })
    }

    /// Find the SK or SKF payload by walking the payload chain, then verify and decrypt.
    pub fn open(&self, message: &[u8]) -> Result<Opened, SkError> {
        let (kind, offset) = find_encrypted_payload(message)?;
        if kind == PayloadType::SKF {
            self.decrypt_fragment(message, offset).map(Opened::Fragment)
        } else {
            self.decrypt_message(message, offset).map(Opened::Message)
        }
    }

    fn open_payload(
        &self,
        message: &[u8],
        offset: usize,
        hlen: usize,
    ) -> Result<(PayloadType, Vec<u8>), SkError> {
        let c = &self.inbound;
        let header = message.get(..IKE_HEADER_LEN).ok_or(SkError::Truncated)?;
        let length = u32::from_be_bytes([header[24], header[25], header[26], header[27]]);
        if usize::try_from(length).ok() != Some(message.len()) {
            return Err(SkError::BadLength);
        }
        if offset < IKE_HEADER_LEN {
            return Err(SkError::BadLength);
        }
        let gh = offset
            .checked_add(GENERIC_HEADER_LEN)
            .and_then(|end| message.get(offset..end))
            .ok_or(SkError::Truncated)?;
        let payload_len = usize::from(u16::from_be_bytes([gh[2], gh[3]]));
        if offset + payload_len != message.len() {
            return Err(SkError::BadLength);
        }
        // Smallest ciphertext: the pad length octet, rounded up to a block.
        let min_ct = c.block_len();
        if payload_len < hlen + c.iv_len() + min_ct + c.icv_len() {
            return Err(SkError::Truncated);
        }
        let iv_start = offset + hlen;
        let ct_start = iv_start + c.iv_len();
        let icv_start = message.len() - c.icv_len();
        if (icv_start - ct_start) % c.block_len() != 0 {
            return Err(SkError::BadLength);
        }
        let aad = &message[..iv_start];
        let iv = &message[iv_start..ct_start];
        let icv = &message[icv_start..];
        let mut plain = message[ct_start..icv_start].to_vec();
        c.open_in_place(aad, iv, &mut plain, icv)?;
        let pad_len = usize::from(*plain.last().ok_or(SkError::Truncated)?);
        let keep = plain
            .len()
            .checked_sub(pad_len + 1)
            .ok_or(SkError::BadPadding)?;
        plain.truncate(keep);
        Ok((PayloadType(message[offset]), plain))
    }
}

impl std::fmt::Debug for SkProtector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkProtector")
            .field("encr", &self.outbound.encr())
            .field("integ", &self.outbound.integ())
            .field("ivs_used", &self.iv.map_or(0, |c| c.used))
            .finish_non_exhaustive()
    }
}

/// Offset in a payload chain of its last payload; checks that the generic headers chain
/// exactly to the end.
fn last_payload_offset(chain: &[u8]) -> Result<usize, SkError> {
    let mut offset = 0;
    loop {
        let len = chain
            .get(offset + 2..offset + 4)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
            .ok_or(SkError::BadUnprotectedPayloads)?;
        if len < GENERIC_HEADER_LEN || offset + len > chain.len() {
            return Err(SkError::BadUnprotectedPayloads);
        }
        if offset + len == chain.len() {
            return Ok(offset);
        }
        offset += len;
    }
}

/// Find the SK or SKF payload of a message by walking the generic payload headers from
/// the IKE header's next-payload field. Returns its type and the offset of its generic
/// header. Only lengths are checked; the message is not authenticated yet.
pub fn find_encrypted_payload(message: &[u8]) -> Result<(PayloadType, usize), SkError> {
    let header = message.get(..IKE_HEADER_LEN).ok_or(SkError::Truncated)?;
    let mut next = PayloadType(header[HDR_NEXT_PAYLOAD]);
    let mut offset = IKE_HEADER_LEN;
    loop {
        if offset > message.len() {
            return Err(SkError::Truncated);
        }
        if next == PayloadType::SK || next == PayloadType::SKF {
            if message.len() - offset < GENERIC_HEADER_LEN {
                return Err(SkError::Truncated);
            }
            return Ok((next, offset));
        }
        if next == PayloadType::NO_NEXT_PAYLOAD {
            return Err(SkError::NoEncryptedPayload);
        }
        let gh = message
            .get(offset..offset + GENERIC_HEADER_LEN)
            .ok_or(SkError::Truncated)?;
        let len = usize::from(u16::from_be_bytes([gh[2], gh[3]]));
        if len < GENERIC_HEADER_LEN {
            return Err(SkError::BadLength);
        }
        next = PayloadType(gh[0]);
        // Each step moves forward by at least 4 octets, so this ends.
        offset += len;
    }
}

/// The octets left for an IKE message (from the IKE header on) in a datagram of
/// `path_mtu` octets: minus the IPv4 (20) or IPv6 (40) header, UDP (8), and the non-ESP
/// marker (4) on port 4500 (RFC 7383 section 2.5.1). Saturates at 0.
pub fn ike_message_budget(path_mtu: usize, ipv6: bool, non_esp_marker: bool) -> usize {
    let ip = if ipv6 { 40 } else { 20 };
    let marker = if non_esp_marker { 4 } else { 0 };
    path_mtu.saturating_sub(ip + 8 + marker)
}

#[cfg(test)]
mod tests;
