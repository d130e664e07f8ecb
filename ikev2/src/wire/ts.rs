//! Traffic Selector payloads TSi and TSr (RFC 7296 section 3.13).
//!
//! ```text
//! Payload:   | Number of TSs | RESERVED (3) | Traffic Selectors ...        |
//! Selector:  | TS Type | IP Protocol ID | Selector Length (2)            |
//!            | Start Port (2) | End Port (2) |                             |
//!            | Starting Address | Ending Address   (4 or 16 octets each) |
//! ```
//!
//! IPv4 and IPv6 ranges must have selector lengths 16 and 40. Other selector types
//! (FC_ADDR_RANGE, SECLABEL of RFC 9478, ...) are kept raw: type, the second octet and
//! the bytes after the 4-octet selector header. Port and address ranges are not
//! ordered-checked: RFC 7296 itself uses start 65535 / end 0 for "OPAQUE" ports.

use core::net::{Ipv4Addr, Ipv6Addr};

use super::codec::{Reader, WriteExt, count_u8, count_u16};
use super::enums::TsType;
use super::error::{Error, ErrorKind};

const V4_LEN: usize = 16;
const V6_LEN: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ts<'a> {
    pub selectors: Vec<TrafficSelector<'a>>,
}

/// One traffic selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrafficSelector<'a> {
    Ipv4 {
        ip_proto: u8,
        start_port: u16,
        end_port: u16,
        start: Ipv4Addr,
        end: Ipv4Addr,
    },
    Ipv6 {
        ip_proto: u8,
        start_port: u16,
        end_port: u16,
        start: Ipv6Addr,
        end: Ipv6Addr,
    },
    /// A selector type we do not interpret. `octet1` is the octet after the type (the
    /// IP protocol for address ranges, reserved for security labels); `data` is what
    /// follows the selector length field.
    Other {
        ty: TsType,
        octet1: u8,
        data: &'a [u8],
    },
}

impl<'a> TrafficSelector<'a> {
    /// All ports and protocols of an IPv4 range.
    pub fn ipv4_range(start: Ipv4Addr, end: Ipv4Addr) -> Self {
        Self::Ipv4 {
            ip_proto: 0,
            start_port: 0,
            end_port: 0xffff,
            start,
            end,
        }
    }

    /// All ports and protocols of an IPv6 range.
    pub fn ipv6_range(start: Ipv6Addr, end: Ipv6Addr) -> Self {
        Self::Ipv6 {
            ip_proto: 0,
            start_port: 0,
            end_port: 0xffff,
            start,
            end,
        }
    }

    pub fn ts_type(&self) -> TsType {
        match self {
            Self::Ipv4 { .. } => TsType::IPV4_ADDR_RANGE,
            Self::Ipv6 { .. } => TsType::IPV6_ADDR_RANGE,
            Self::Other { ty, .. } => *ty,
        }
    }

    fn read(r: &mut Reader<'a>) -> Result<Self, Error> {
        let start_at = r.offset();
        let ty = TsType(r.u8()?);
        let octet1 = r.u8()?;
        let len = usize::from(r.u16()?);
        let body_len = len
            .checked_sub(4)
            .ok_or_else(|| r.err_at(ErrorKind::BadLength, start_at))?;
        let mut s = r.sub(body_len, start_at, "traffic selector")?;
        let ts = match ty {
            TsType::IPV4_ADDR_RANGE | TsType::IPV6_ADDR_RANGE => {
                let want = if ty == TsType::IPV4_ADDR_RANGE {
                    V4_LEN
                } else {
                    V6_LEN
                };
                if len != want {
                    return Err(s.err_at(ErrorKind::BadLength, start_at));
                }
                let start_port = s.u16()?;
                let end_port = s.u16()?;
                if ty == TsType::IPV4_ADDR_RANGE {
                    let start = Ipv4Addr::from(s.array::<4>()?);
                    let end = Ipv4Addr::from(s.array::<4>()?);
                    Self::Ipv4 {
                        ip_proto: octet1,
                        start_port,
                        end_port,
                        start,
                        end,
                    }
                } else {
                    let start = Ipv6Addr::from(s.array::<16>()?);
                    let end = Ipv6Addr::from(s.array::<16>()?);
                    Self::Ipv6 {
                        ip_proto: octet1,
                        start_port,
                        end_port,
                        start,
                        end,
                    }
                }
            }
            _ => Self::Other {
                ty,
                octet1,
                data: s.rest(),
            },
        };
        s.finish()?;
        Ok(ts)
    }

    fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let start = out.len();
        match self {
            Self::Ipv4 {
                ip_proto,
                start_port,
                end_port,
                start: a,
                end: b,
            } => {
                out.put_u8(TsType::IPV4_ADDR_RANGE.0);
                out.put_u8(*ip_proto);
                out.put_u16(V4_LEN as u16);
                out.put_u16(*start_port);
                out.put_u16(*end_port);
                out.put(&a.octets());
                out.put(&b.octets());
            }
            Self::Ipv6 {
                ip_proto,
                start_port,
                end_port,
                start: a,
                end: b,
            } => {
                out.put_u8(TsType::IPV6_ADDR_RANGE.0);
                out.put_u8(*ip_proto);
                out.put_u16(V6_LEN as u16);
                out.put_u16(*start_port);
                out.put_u16(*end_port);
                out.put(&a.octets());
                out.put(&b.octets());
            }
            Self::Other { ty, octet1, data } => {
                if *ty == TsType::IPV4_ADDR_RANGE || *ty == TsType::IPV6_ADDR_RANGE {
                    // would be parsed back as a typed range
                    return Err(Error::new(
                        ErrorKind::InvalidValue,
                        start,
                        "traffic selector",
                    ));
                }
                let len = count_u16(data.len().saturating_add(4), start, "traffic selector")?;
                out.put_u8(ty.0);
                out.put_u8(*octet1);
                out.put_u16(len);
                out.put(data);
            }
        }
        Ok(())
    }
}

impl<'a> Ts<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, 0, "TS payload");
        let count = r.u8()?;
        let _reserved = r.array::<3>()?;
        let mut selectors = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            selectors.push(TrafficSelector::read(&mut r)?);
        }
        if !r.is_empty() {
            return Err(r.err(ErrorKind::BadSubstructure));
        }
        Ok(Self { selectors })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let count = count_u8(self.selectors.len(), out.len(), "TS payload")?;
        out.put_u8(count);
        out.put(&[0; 3]);
        for ts in &self.selectors {
            ts.emit(out)?;
        }
        Ok(())
    }
}
