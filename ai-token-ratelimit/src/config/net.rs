//! IP addresses and networks for `limit_by_per_ip`, on `std::net` types.
//!
//! Addresses are compared in canonical form: an IPv4-mapped IPv6 address
//! (`::ffff:10.1.2.3`) is the IPv4 address it carries, so `10.0.0.0/8`
//! matches it and both spellings share one counter.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP network: an address with a prefix length (`10.0.0.0/8`,
/// `2001:db8::/32`); a plain address is a network of one (`/32`, `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// The network address, host bits cleared.
    addr: IpAddr,
    /// Prefix length: 0..=32 for IPv4, 0..=128 for IPv6.
    prefix: u8,
}

impl IpNet {
    /// Parses `addr` or `addr/prefix`. Host bits below the prefix are
    /// cleared (`10.1.2.3/8` is `10.0.0.0/8`), as Go's `ParseCIDR` does.
    ///
    /// # Errors
    /// A message saying what is wrong when the text is not an address or a
    /// CIDR, or the prefix is too long for the address family.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| {
            format!(
                "{text:?} is not an IP address or CIDR (e.g. 10.0.0.0/8, 192.168.1.7, 2001:db8::/32)"
            )
        })?;
        let max = max_prefix(addr);
        let prefix = match prefix_text {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && !p.starts_with('+') => n,
                _ => {
                    return Err(format!(
                        "{text:?}: prefix length must be a number from 0 to {max}"
                    ))
                }
            },
        };
        Ok(Self::new(addr, prefix))
    }

    fn new(addr: IpAddr, prefix: u8) -> Self {
        // `::ffff:a.b.c.d/(96+n)` is the IPv4 network a.b.c.d/n.
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix.saturating_sub(96)),
                None => (addr, prefix),
            },
            _ => (addr, prefix),
        };
        let addr = match addr {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask32(prefix))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(prefix))),
        };
        Self { addr, prefix }
    }

    /// Whether `ip` (any form; canonicalized first) is inside the network.
    /// An IPv4 network never contains a (non-mapped) IPv6 address and the
    /// other way round: use `*` or both `0.0.0.0/0` and `::/0` for every
    /// client.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }

    /// The network address (host bits cleared).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32u32.saturating_sub(u32::from(prefix)))
        .unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128u32.saturating_sub(u32::from(prefix)))
        .unwrap_or(0)
}

/// Reads a client address as proxies write it and returns it canonical:
/// `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]`, `[::1]:443`, a zone suffix
/// (`fe80::1%eth0`) dropped, IPv4-mapped IPv6 turned into IPv4. Surrounding
/// spaces are ignored. `None` for anything else (including an empty string
/// and `unknown`, which some proxies put in `X-Forwarded-For`).
pub fn parse_client_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let ip = if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        parse_bare(inside)?
    } else if let Some(ip) = parse_bare(text) {
        ip
    } else {
        // `a.b.c.d:port`: exactly one colon, so not an IPv6 address.
        let (host, port) = text.rsplit_once(':')?;
        if host.contains(':') || !is_port(port) {
            return None;
        }
        IpAddr::V4(host.parse::<Ipv4Addr>().ok()?)
    };
    Some(ip.to_canonical())
}

/// 1 to 5 ASCII digits.
fn is_port(digits: &str) -> bool {
    !digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// An address without port or brackets; an IPv6 zone (`%eth0`) is dropped.
fn parse_bare(text: &str) -> Option<IpAddr> {
    let without_zone = match text.split_once('%') {
        Some((addr, _zone)) if addr.contains(':') => addr,
        Some(_) => return None,
        None => text,
    };
    without_zone.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_contains_addresses_inside_its_prefix_only() {
        let net = IpNet::parse("1.1.1.0/24").unwrap();
        assert!(net.contains(ip("1.1.1.200")));
        assert!(!net.contains(ip("1.1.2.1")));
        let all = IpNet::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("255.255.255.255")));
        assert!(!all.contains(ip("2001:db8::1")));
        let v6 = IpNet::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(IpNet::parse("::/0").unwrap().contains(ip("::1")));
    }

    #[test]
    fn plain_address_is_a_single_host_network() {
        let one = IpNet::parse("1.1.1.1").unwrap();
        assert_eq!(one.prefix(), 32);
        assert!(one.contains(ip("1.1.1.1")));
        assert!(!one.contains(ip("1.1.1.2")));
        assert_eq!(IpNet::parse("::1").unwrap().prefix(), 128);
    }

    #[test]
    fn host_bits_are_cleared_and_mapped_networks_become_ipv4() {
        let net = IpNet::parse("10.1.2.3/8").unwrap();
        assert_eq!(net.addr(), ip("10.0.0.0"));
        let mapped = IpNet::parse("::ffff:10.0.0.0/104").unwrap();
        assert_eq!((mapped.addr(), mapped.prefix()), (ip("10.0.0.0"), 8));
        assert!(net.contains(ip("::ffff:10.9.9.9")));
    }

    #[test]
    fn bad_networks_are_refused_with_a_reason() {
        for bad in [
            "",
            "1.1.1",
            "1.1.1.1/33",
            "::/129",
            "1.1.1.1/",
            "1.1.1.1/-1",
            "1.1.1.1/+8",
            "x/8",
            "*",
        ] {
            assert!(IpNet::parse(bad).is_err(), "{bad:?}");
        }
        let err = IpNet::parse("1.1.1.1/40").unwrap_err();
        assert!(err.contains("0 to 32"), "{err}");
    }

    #[test]
    fn client_ip_strips_ports_brackets_and_zones() {
        for (text, want) in [
            ("1.2.3.4", "1.2.3.4"),
            ("1.2.3.4:5678", "1.2.3.4"),
            (" 1.2.3.4 ", "1.2.3.4"),
            ("::1", "::1"),
            ("[::1]", "::1"),
            ("[2001:db8::7]:443", "2001:db8::7"),
            ("fe80::1%eth0", "fe80::1"),
            ("::ffff:1.2.3.4", "1.2.3.4"),
            ("[::ffff:1.2.3.4]:80", "1.2.3.4"),
            ("2001:0db8:0000::0001", "2001:db8::1"),
        ] {
            assert_eq!(parse_client_ip(text), Some(ip(want)), "{text:?}");
        }
    }

    #[test]
    fn client_ip_refuses_garbage() {
        for text in [
            "",
            "unknown",
            "1.2.3.4:",
            "1.2.3.4:123456",
            "1.2.3.4:80:80",
            "[::1",
            "[::1]x",
            "[::1]:",
            "1.2.3.4%eth0",
            "host:80",
            "[1.2.3.4]junk",
            "::1:80:x",
            "\u{0}",
        ] {
            assert_eq!(parse_client_ip(text), None, "{text:?}");
        }
    }
}
