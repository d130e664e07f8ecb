//! Cryptographic suites of IKEv2: what is negotiated ([`proposal`]), key exchange
//! ([`ke`] over Diffie-Hellman [`dh`] and ML-KEM [`kem`]), pseudo-random functions and key derivation ([`prf`], [`keymat`]), and
//! protection of encrypted payloads ([`cipher`], [`sk`]), and the signatures of
//! public-key authentication ([`signature`]).
//!
//! Every secret lives in a type that zeroizes on drop and whose `Debug` prints no key
//! material ([`secret::SecretBytes`]; private keys inside aws-lc, which wipes them).
//! Randomness comes from the caller as `rand_core::{RngCore, CryptoRng}` so tests are
//! reproducible; only signatures (ECDSA nonces, PSS salts) take aws-lc's own.

pub mod algorithms;
pub mod cipher;
pub mod dh;
pub mod ke;
pub mod kem;
pub mod keymat;
pub mod prf;
pub mod proposal;
pub mod secret;
pub mod signature;
pub mod sk;
