//! The client's address: the peer, or the `X-Forwarded-For` entry added by a trusted proxy.

use std::{fmt, net::IpAddr, str::FromStr};

/// A range of proxy addresses whose `X-Forwarded-For` is believed, as `10.0.0.0/8`,
/// `fd00::/8` or a single address.
///
/// ```
/// use belfry_access_log::TrustedProxy;
///
/// let proxies: TrustedProxy = "10.0.0.0/8".parse().unwrap();
/// assert!(proxies.contains("10.1.2.3".parse().unwrap()));
/// assert!(!proxies.contains("192.168.0.1".parse().unwrap()));
/// assert!("10.0.0.0/33".parse::<TrustedProxy>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustedProxy {
    network: IpAddr,
    prefix_len: u8,
}

impl TrustedProxy {
    /// Whether `address` is in this range.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(address)) => prefix_matches(
                u128::from(network.to_bits()),
                u128::from(address.to_bits()),
                self.prefix_len,
                32,
            ),
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                prefix_matches(network.to_bits(), address.to_bits(), self.prefix_len, 128)
            }
            _ => false,
        }
    }
}

fn prefix_matches(network: u128, address: u128, prefix_len: u8, width: u8) -> bool {
    let host_bits = u32::from(width - prefix_len);
    let shift = |value: u128| value.checked_shr(host_bits).unwrap_or(0);
    shift(network) == shift(address)
}

/// Why a trusted-proxy range could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTrustedProxy(String);

impl fmt::Display for InvalidTrustedProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not an IP address or a CIDR range such as 10.0.0.0/8",
            self.0
        )
    }
}

impl std::error::Error for InvalidTrustedProxy {}

impl FromStr for TrustedProxy {
    type Err = InvalidTrustedProxy;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidTrustedProxy(text.to_owned());
        let (address, prefix_len) = match text.trim().split_once('/') {
            Some((address, prefix_len)) => (address, Some(prefix_len.parse::<u8>().map_err(|_| invalid())?)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().map_err(|_| invalid())?;
        let network = network.to_canonical();
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix_len = prefix_len.unwrap_or(width);
        if prefix_len > width {
            return Err(invalid());
        }
        Ok(Self { network, prefix_len })
    }
}

/// The client address to log: with no trusted proxies, the peer. When the peer is a trusted
/// proxy, the rightmost `X-Forwarded-For` entry that is not itself a trusted proxy (entries to
/// its left could have been written by the client).
pub(crate) fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[TrustedProxy],
) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |address: IpAddr| trusted.iter().any(|proxy| proxy.contains(address));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let mut client = peer;
    for entry in forwarded_for.unwrap_or_default().rsplit(',') {
        let Ok(address) = entry.trim().parse::<IpAddr>() else {
            break;
        };
        client = address;
        if !is_trusted(address) {
            break;
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            client_address(Some(ip("203.0.113.9")), Some("1.2.3.4"), &[]),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn trusted_proxy_chain_is_walked_from_the_right() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let peer = Some(ip("10.0.0.2"));
        assert_eq!(
            client_address(peer, Some("6.6.6.6, 198.51.100.7, 10.0.0.5"), &trusted),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(client_address(peer, None, &trusted), peer);
        assert_eq!(client_address(peer, Some("garbage"), &trusted), peer);
    }

    #[test]
    fn ranges() {
        let v6: TrustedProxy = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let all: TrustedProxy = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let one: TrustedProxy = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        assert!(
            one.contains(ip("::ffff:127.0.0.1")),
            "IPv4-mapped addresses are IPv4"
        );
        assert!("nope".parse::<TrustedProxy>().is_err());
        assert!("::/129".parse::<TrustedProxy>().is_err());
    }
}
