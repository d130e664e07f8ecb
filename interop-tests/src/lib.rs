//! Interop harness: ikev2d against strongSwan in Linux network namespaces.
//! The harness arrives with the interop issue, once the daemon exists.
