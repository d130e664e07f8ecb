//! ESP tunnel-mode data plane (RFC 4303). Pure encapsulation and decapsulation on
//! buffers; the IO layer lives at the edge. Not built yet: see the esp issue.
