//! Public-key infrastructure for certificate authentication: certificates parsed
//! once ([`cert`]), distinguished names as strongSwan writes and compares them
//! ([`dn`]), the trust decision on a peer's chain ([`trust`]), and whether a
//! certificate stands for an IKE identity ([`ids`]); credentials from PEM or DER
//! file contents ([`encoding`]).

pub mod cert;
pub mod dn;
pub mod encoding;
pub mod ids;
pub mod trust;

pub use cert::{AltName, CertError, Certificate};
pub use trust::{Revocation, TrustError, TrustStore, Verified};
