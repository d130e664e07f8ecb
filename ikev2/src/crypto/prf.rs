//! Pseudo-random functions of IKEv2: `prf` and `prf+` (RFC 7296 section 2.13).
//!
//! [`Prf`] is what key derivation ([`super::keymat`]) is written against. Production code
//! uses [`PrfAlgorithm`] (HMAC-SHA1/SHA2-256/384/512 over the RustCrypto `hmac` crate);
//! the trait exists so tests can run the same derivation code with another PRF (the NIST
//! HMAC-SHA2-224 chain) and a fuzzing build can plug in a cheap one.
//!
//! Outputs are [`SecretBytes`]. Data is passed as a list of parts that the PRF hashes in
//! order, so a secret such as g^ir never has to be copied into a concatenation buffer.
//!
//! Not done here: integrity checksums of SK payloads and ESP (the truncated HMACs of
//! RFC 4868 live with the SK/ESP code).
//!
//! Limitation: the HMAC/SHA-2 state inside RustCrypto's `hmac` 0.12 is not zeroized when
//! it is dropped; the output blocks copied out of it are.

use hmac::Hmac;
use hmac::digest::{KeyInit, Mac};
use zeroize::{Zeroize, Zeroizing};

use super::algorithms::PrfAlgorithm;
use super::secret::SecretBytes;

/// prf+ runs at most 255 iterations: its counter is one octet (RFC 7296 section 2.13).
pub const PRF_PLUS_MAX_BLOCKS: usize = 255;

/// A pseudo-random function as IKEv2 uses it: prf(key, data) with a fixed output length.
pub trait Prf {
    /// Octets of output of one application.
    fn output_len(&self) -> usize;

    /// Append prf(key, data\[0\] | data\[1\] | ...) to `out`: exactly
    /// [`output_len`](Prf::output_len) octets.
    fn compute_into(&self, key: &[u8], data: &[&[u8]], out: &mut Vec<u8>);

    /// prf(key, data\[0\] | data\[1\] | ...).
    fn prf(&self, key: &[u8], data: &[&[u8]]) -> SecretBytes {
        let mut out = Vec::with_capacity(self.output_len());
        self.compute_into(key, data, &mut out);
        SecretBytes::new(out)
    }

    /// The first `len` octets of prf+(key, seed\[0\] | seed\[1\] | ...) (RFC 7296
    /// section 2.13):
    ///
    /// ```text
    /// prf+ (K,S) = T1 | T2 | T3 | T4 | ...
    /// T1 = prf (K, S | 0x01)
    /// T2 = prf (K, T1 | S | 0x02)
    /// ```
    ///
    /// Errors if that takes more than 255 iterations.
    fn prf_plus(
        &self,
        key: &[u8],
        seed: &[&[u8]],
        len: usize,
    ) -> Result<SecretBytes, PrfPlusTooLong> {
        let block = self.output_len();
        let max = PRF_PLUS_MAX_BLOCKS * block;
        if len > max {
            return Err(PrfPlusTooLong {
                requested: len,
                max,
            });
        }
        let blocks = len.div_ceil(block.max(1));
        // Allocated once so no partial copy of the output is left behind by a reallocation.
        let mut out = Vec::with_capacity(blocks * block);
        let mut prev: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::with_capacity(block));
        for i in 1..=blocks {
            let counter = [u8::try_from(i).expect("at most 255 blocks, checked above")];
            let mut parts: Vec<&[u8]> = Vec::with_capacity(seed.len() + 2);
            parts.push(prev.as_slice());
            parts.extend_from_slice(seed);
            parts.push(&counter);
            let start = out.len();
            self.compute_into(key, &parts, &mut out);
            debug_assert_eq!(out.len() - start, block, "Prf::compute_into output length");
            drop(parts);
            prev.clear();
            prev.extend_from_slice(&out[start..]);
        }
        out[len..].zeroize();
        out.truncate(len);
        Ok(SecretBytes::new(out))
    }
}

/// prf+ was asked for more than 255 blocks of output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("prf+ can produce at most {max} octets (255 blocks); {requested} requested")]
pub struct PrfPlusTooLong {
    pub requested: usize,
    pub max: usize,
}

impl Prf for PrfAlgorithm {
    fn output_len(&self) -> usize {
        PrfAlgorithm::output_len(*self)
    }

    fn compute_into(&self, key: &[u8], data: &[&[u8]], out: &mut Vec<u8>) {
        match self {
            Self::HmacSha1 => hmac_into::<Hmac<sha1::Sha1>>(key, data, out),
            Self::HmacSha256 => hmac_into::<Hmac<sha2::Sha256>>(key, data, out),
            Self::HmacSha384 => hmac_into::<Hmac<sha2::Sha384>>(key, data, out),
            Self::HmacSha512 => hmac_into::<Hmac<sha2::Sha512>>(key, data, out),
        }
    }
}

/// HMAC over the concatenation of `data`, appended to `out`. Any key length is accepted
/// (keys longer than the hash block are hashed first, RFC 2104).
fn hmac_into<M: Mac + KeyInit>(key: &[u8], data: &[&[u8]], out: &mut Vec<u8>) {
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in data {
        mac.update(part);
    }
    let mut tag = mac.finalize().into_bytes();
    out.extend_from_slice(&tag);
    tag.as_mut_slice().zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_concatenated() {
        let alg = PrfAlgorithm::HmacSha256;
        let whole = alg.prf(b"key", &[b"abcdef"]);
        let split = alg.prf(b"key", &[b"ab", b"", b"cdef"]);
        assert_eq!(whole, split);
        assert_eq!(whole.len(), 32);
    }

    #[test]
    fn prf_plus_blocks_chain() {
        let alg = PrfAlgorithm::HmacSha1;
        let out = alg.prf_plus(b"k", &[b"seed"], 50).expect("3 blocks");
        let t1 = alg.prf(b"k", &[b"seed", &[1]]);
        let t2 = alg.prf(b"k", &[t1.expose(), b"seed", &[2]]);
        let t3 = alg.prf(b"k", &[t2.expose(), b"seed", &[3]]);
        assert_eq!(&out.expose()[..20], t1.expose());
        assert_eq!(&out.expose()[20..40], t2.expose());
        assert_eq!(&out.expose()[40..], &t3.expose()[..10]);
    }

    #[test]
    fn prf_plus_limit_is_255_blocks() {
        for alg in [
            PrfAlgorithm::HmacSha1,
            PrfAlgorithm::HmacSha256,
            PrfAlgorithm::HmacSha384,
            PrfAlgorithm::HmacSha512,
        ] {
            let max = 255 * alg.output_len();
            let out = alg
                .prf_plus(b"k", &[b"s"], max)
                .expect("255 blocks is allowed");
            assert_eq!(out.len(), max);
            assert_eq!(
                alg.prf_plus(b"k", &[b"s"], max + 1),
                Err(PrfPlusTooLong {
                    requested: max + 1,
                    max
                })
            );
        }
        let empty = PrfAlgorithm::HmacSha256
            .prf_plus(b"k", &[b"s"], 0)
            .expect("empty output");
        assert!(empty.is_empty());
    }
}
