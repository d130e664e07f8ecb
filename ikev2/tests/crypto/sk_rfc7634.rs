//! The RFC 7634 Appendix B IKEv2 example, reproduced byte for byte through the public
//! SK API: a ChaCha20-Poly1305 INFORMATIONAL message with one Notify payload.
//!
//! The vector comes from `primitives/chacha20poly1305.json` (id
//! `strongswan/chacha20poly1305_4`); see `kat_cipher.rs` for the directory rules.

use std::path::PathBuf;

use ikev2::crypto::algorithms::EncrAlgorithm;
use ikev2::crypto::sk::{Opened, SkProtector};
use ikev2::wire::PayloadType;
use rand_core::{CryptoRng, Error, RngCore};
use serde_json::Value;

fn vector() -> Value {
    let dir = match std::env::var_os("IKEV2D_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"),
    };
    let path = dir.join("primitives/chacha20poly1305.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "test vectors missing: cannot read {} ({e}); set IKEV2D_VECTORS",
            path.display()
        )
    });
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    let vectors = doc["vectors"].as_array().expect("vectors list");
    assert_eq!(vectors.len(), 3, "chacha20poly1305.json vector count");
    vectors
        .iter()
        .find(|v| v["id"] == "strongswan/chacha20poly1305_4")
        .expect("RFC 7634 Appendix B vector present")
        .clone()
}

fn hex_field(v: &Value, name: &str) -> Vec<u8> {
    hex::decode(v[name].as_str().expect("string field")).expect("hex")
}

/// An "RNG" that replays fixed bytes: the protector draws the first AEAD IV from it.
struct Replay(Vec<u8>);

impl RngCore for Replay {
    fn next_u32(&mut self) -> u32 {
        unimplemented!("only fill_bytes is used")
    }
    fn next_u64(&mut self) -> u64 {
        unimplemented!("only fill_bytes is used")
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert!(dest.len() <= self.0.len(), "replay RNG exhausted");
        let rest = self.0.split_off(dest.len());
        dest.copy_from_slice(&self.0);
        self.0 = rest;
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for Replay {}

#[test]
fn rfc7634_appendix_b_sk_payload() {
    let v = vector();
    let mut keymat = hex_field(&v, "key");
    keymat.extend_from_slice(&hex_field(&v, "salt"));
    let iv = hex_field(&v, "iv");
    let aad = hex_field(&v, "aad");
    let plaintext = hex_field(&v, "plaintext");
    let ct_tag = hex_field(&v, "ciphertext_and_tag");

    // aad = IKE header (28) | SK generic header (4); plaintext = Notify | pad length 0.
    let header: [u8; 28] = aad[..28].try_into().expect("28 octets");
    let first_inner = PayloadType(aad[28]);
    assert_eq!(first_inner, PayloadType::NOTIFY);
    assert_eq!(plaintext.last(), Some(&0), "pad length 0");
    let inner = &plaintext[..plaintext.len() - 1];

    let mut expected = aad.clone();
    expected.extend_from_slice(&iv);
    expected.extend_from_slice(&ct_tag);

    let other = [0x55u8; 36];
    let mut sender = SkProtector::initiator(
        EncrAlgorithm::ChaCha20Poly1305,
        None,
        &keymat,
        &[],
        &other,
        &[],
    )
    .expect("keys");
    let msg = sender
        .encrypt_message(&header, first_inner, inner, &mut Replay(iv.clone()))
        .expect("encrypt");
    assert_eq!(hex::encode(&msg), hex::encode(&expected));
    assert_eq!(sender.message_len(0, inner.len()), expected.len());

    let receiver = SkProtector::responder(
        EncrAlgorithm::ChaCha20Poly1305,
        None,
        &keymat,
        &[],
        &other,
        &[],
    )
    .expect("keys");
    let got = receiver.decrypt_message(&expected, 28).expect("decrypt");
    assert_eq!(got.next_payload, PayloadType::NOTIFY);
    assert_eq!(got.payloads, inner);
    assert_eq!(
        receiver.open(&expected).expect("open"),
        Opened::Message(got)
    );

    // The next message from the same sender uses the next IV.
    let msg2 = sender
        .encrypt_message(&header, first_inner, inner, &mut Replay(Vec::new()))
        .expect("encrypt");
    let mut next_iv = iv.clone();
    *next_iv.last_mut().expect("8 octets") += 1;
    assert_eq!(&msg2[32..40], &next_iv[..]);
}
