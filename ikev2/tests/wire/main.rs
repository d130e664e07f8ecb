//! Tests of the pure parts without an `Endpoint`: the wire format (payloads, messages,
//! the checked-in samples, property round trips), proposals, traffic selectors, NAT
//! detection and cookies. One module per topic, one binary.

mod cookie_stateless;
mod data;
mod message;
mod nat_detect;
mod payloads;
mod properties;
mod proposal_parse;
mod proposal_select;
mod ts_laws;
mod ts_narrow;
mod ts_parse;
