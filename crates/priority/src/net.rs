//! Is an interface address public?

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Parses an interface address (an optional `/prefix` and IPv6 `%zone` are
/// ignored) and returns it when it is publicly routable: not private
/// (10/8, 172.16/12, 192.168/16), loopback, link-local (169.254/16,
/// fe80::/10), CGNAT (100.64/10), unique-local (fc00::/7), documentation
/// (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32), benchmarking
/// (198.18/15), IETF protocol assignments (192.0.0/24), reserved (240/4,
/// 0/8), multicast, unspecified or broadcast. IPv6 counts as public only in
/// global unicast 2000::/3; IPv4-mapped addresses are judged as IPv4.
pub fn public_ip(addr: &str) -> Option<IpAddr> {
    let s = addr.trim();
    let s = s.split_once('/').map_or(s, |(a, _)| a);
    let s = s.split_once('%').map_or(s, |(a, _)| a);
    let s = s.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = s.parse().ok()?;
    let public = match ip {
        IpAddr::V4(v4) => v4_public(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_public(v4),
            None => v6_public(v6),
        },
    };
    public.then_some(ip)
}

fn v4_public(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || (a == 100 && (b & 0xc0) == 64)
        || (a == 198 && (b & 0xfe) == 18)
        || (a == 192 && b == 0 && c == 0))
}

fn v6_public(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    // Global unicast is 2000::/3; everything else (loopback, unspecified,
    // link-local fe80::/10, unique-local fc00::/7, multicast ff00::/8, …)
    // lies outside it.
    (seg[0] & 0xe000) == 0x2000 && !(seg[0] == 0x2001 && seg[1] == 0x0db8)
}

#[cfg(test)]
mod tests {
    use super::public_ip;

    #[test]
    fn public_and_not() {
        for p in [
            "8.8.8.8",
            "52.1.2.3",
            "2606:4700::1111",
            "203.0.114.1",
            "8.8.8.8/24",
            "::ffff:8.8.4.4",
        ] {
            assert!(public_ip(p).is_some(), "{p} should be public");
        }
        for n in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "240.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
            "::1",
            "::",
            "fe80::1%eth0",
            "fd00::1",
            "fc00::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "not-an-ip",
            "",
        ] {
            assert!(public_ip(n).is_none(), "{n} should not be public");
        }
        assert!(public_ip("172.32.0.1").is_some());
        assert!(public_ip("100.128.0.1").is_some());
    }
}
