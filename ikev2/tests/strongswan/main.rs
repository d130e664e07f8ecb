//! Real strongSwan 5.9.8 bytes: every captured message and SA key checked against
//! our parser and key derivation, and our responder answering strongSwan's
//! IKE_SA_INIT. One binary.

#[path = "../common/captures.rs"]
mod captures;

mod known_answers;
mod multike;
mod responder;
