//! Crypto tests: known answers for ciphers, Diffie-Hellman, ML-KEM, HMAC and the key
//! derivation from the shared vectors, the RFC 7634 example, and the SK payload
//! (round trips, tampering, fragments). One module per topic, one binary.

#[path = "../sk_util/mod.rs"]
mod sk_util;
#[path = "../common/vectors.rs"]
mod vectors;

mod kat_cipher;
mod kat_dh;
mod kat_hmac;
mod kat_independent;
mod kat_kdf;
mod kem_mlkem;
mod pki;
mod signatures;
mod sk_fragments;
mod sk_rfc7634;
mod sk_roundtrip;
