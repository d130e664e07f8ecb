//! TEMPORARY stub (replaced by the edges branch).
#![allow(dead_code, clippy::unused_async)]
use ikev2::ts::TrafficSelector;
use std::io;
use std::net::IpAddr;

#[derive(Debug)]
pub struct Routes;

impl Routes {
    pub async fn new() -> io::Result<Self> {
        Ok(Self)
    }
    pub async fn ifindex(&mut self, _name: &str) -> io::Result<u32> {
        Ok(0)
    }
    pub async fn local_addresses(&mut self) -> io::Result<Vec<(IpAddr, u32)>> {
        Ok(Vec::new())
    }
    pub async fn add_route(
        &mut self,
        _d: IpAddr,
        _p: u8,
        _i: u32,
        _s: Option<IpAddr>,
    ) -> io::Result<()> {
        Ok(())
    }
    pub async fn del_route(
        &mut self,
        _d: IpAddr,
        _p: u8,
        _i: u32,
        _s: Option<IpAddr>,
    ) -> io::Result<()> {
        Ok(())
    }
}

pub fn pick_source(ts: &[TrafficSelector], addrs: &[(IpAddr, u32)], v4: bool) -> Option<IpAddr> {
    addrs
        .iter()
        .map(|a| a.0)
        .find(|a| a.is_ipv4() == v4 && ts.iter().any(|t| t.contains_packet(*a, 0, None)))
}
