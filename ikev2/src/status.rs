//! What the endpoint reports about itself: counters ([`Stats`]) and snapshots of its
//! SAs for status displays. Plain data; nothing here changes an SA.

/// Counters of what the endpoint did with its input. Every dropped datagram is
/// counted under exactly one `dropped_*` reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    pub received: u64,
    pub sent: u64,
    /// NAT-keepalives (a single 0xff octet on port 4500), ignored.
    pub keepalives: u64,
    /// Non-IKE datagrams on port 4500 (ESP: non-zero SPI where the marker should be).
    pub dropped_non_ike: u64,
    pub dropped_too_large: u64,
    /// Not a well-formed IKE message (header, lengths, payload syntax, decryption
    /// framing).
    pub dropped_parse_error: u64,
    /// No IKE SA with our SPI, or the peer's SPI does not match.
    pub dropped_unknown_spi: u64,
    /// ICV or AEAD tag did not verify.
    pub dropped_bad_icv: u64,
    /// A request whose message ID is neither the expected one nor the last answered.
    pub dropped_out_of_window: u64,
    /// A retransmitted request we answered already and do not answer again (later
    /// fragments of a retransmission, a retransmitted IKE_SA_INIT of an established SA).
    pub dropped_duplicate: u64,
    /// A response that answers nothing we sent, or a message in the wrong state.
    pub dropped_unexpected: u64,
    /// Well-formed but against the protocol (payload rules, flags, nonsense answers).
    pub dropped_invalid: u64,
    /// IKE_SA_INIT without a valid cookie while cookies are required.
    pub dropped_cookie_required: u64,
    pub dropped_half_open_limit: u64,
    pub dropped_block_threshold: u64,
    pub dropped_fragment_limit: u64,
    pub dropped_fragment_timeout: u64,
    pub retransmitted_requests: u64,
    pub retransmitted_responses: u64,
    pub fragmented_messages: u64,
    pub reassembled_messages: u64,
    pub cookies_sent: u64,
    pub cookie_retries: u64,
    pub invalid_ke_sent: u64,
    pub invalid_ke_retries: u64,
    pub nat_detected: u64,
    pub half_open_timeouts: u64,
    pub child_sas_installed: u64,
    pub rekeys_refused: u64,
    /// Diffie-Hellman shared secrets computed (IKE_SA_INIT, IKE SA rekeys, CHILD SAs
    /// with PFS), as initiator or responder: the expensive work a flood aims at.
    pub dh_computations: u64,
}
