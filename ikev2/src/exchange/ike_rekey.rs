//! Rekeying the IKE SA (RFC 7296 sections 1.3.2, 2.8, 2.8.2, 2.18; strongSwan
//! `ike_rekey.c`).

use crate::endpoint::Ctx;
use crate::ike_sa::IkeSa;
use crate::wire::Payload;

use super::Chain;

/// Responder: handles an IKE SA rekey request; false if it is refused.
pub(crate) fn process_request(
    _sa: &mut IkeSa,
    _ctx: &mut Ctx<'_>,
    _payloads: &[Payload<'_>],
    _resp: &mut Chain,
) -> bool {
    false
}
