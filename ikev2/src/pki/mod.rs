//! Public-key infrastructure for certificate authentication: certificates parsed
//! once ([`cert`]), the trust decision on a peer's chain ([`trust`]), and whether a
//! certificate stands for an IKE identity ([`ids`]).

pub mod cert;
pub mod ids;
pub mod trust;

pub use cert::{AltName, CertError, Certificate};
pub use trust::{Revocation, TrustError, TrustStore, Verified};
