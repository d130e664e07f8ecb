//! The simulation tests of the `Endpoint`: two or more endpoints in a deterministic
//! simulated network ([`harness`]), one module per topic. One binary, so the harness
//! is compiled once (ikev2's unit tests include it too, by path).

mod harness;

mod endpoint_robustness;
mod establish;
mod failover;
mod failures;
mod followup_ke;
mod fragments_childless;
mod ike_rekey;
mod intermediate;
mod key_export;
mod lifecycle;
mod lifecycle_prop;
mod nat_ts_cookies;
mod path_probe;
mod pubkey;
mod rekey;
mod reload;
mod suites;
