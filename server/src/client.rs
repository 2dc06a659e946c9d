//! Who a request comes from: the peer of its connection, or, when that peer is a trusted
//! proxy (`--trusted-proxy`), the address it forwards in the one header the operator names
//! (`--forwarded-header`: `X-Forwarded-For`, which nginx, HAProxy and cloud balancers
//! append to, by default; or RFC 7239 `Forwarded`): the right-most hop that is not itself
//! trusted, since every hop to its left was written by the client and can be anything.
//! The other header is never read: a client's own `Forwarded: for=...` passed through by
//! a balancer that appends to `X-Forwarded-For` must not win. Hops are split on the
//! header's raw bytes, so that a byte that is not UTF-8 spoils its own hop only. A hop
//! that is not an address (`unknown`, a name, garbage) ends the walk: the client is then
//! the nearest trusted proxy's peer, the last address vouched for, and a warning is
//! logged. From peers not trusted those headers are ignored. Rate limits, log lines and
//! audit rows use this address; audit rows keep the peer too.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderName, header};
use axum::response::Response;
use ipnet::IpNet;

/// The header a trusted proxy names the client in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, ...`, appended to by each proxy.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1, ...`.
    Forwarded,
}

impl ForwardedHeader {
    fn name(self) -> HeaderName {
        match self {
            ForwardedHeader::XForwardedFor => HeaderName::from_static("x-forwarded-for"),
            ForwardedHeader::Forwarded => header::FORWARDED,
        }
    }
}

/// The networks whose peers may name the client, and the header they name it in.
#[derive(Clone, Debug, Default)]
pub(crate) struct Proxies {
    networks: Arc<[IpNet]>,
    header: ForwardedHeader,
}

impl Proxies {
    pub(crate) fn new(networks: &[IpNet], header: ForwardedHeader) -> Self {
        Self {
            networks: networks.iter().copied().collect(),
            header,
        }
    }

    pub(crate) fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.networks.iter().any(|net| net.contains(&ip))
    }
}

/// The address of a request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Client {
    /// The connection's peer.
    pub(crate) peer: SocketAddr,
    /// The client: the peer's address, or the one a trusted proxy forwarded.
    pub(crate) ip: IpAddr,
}

impl Client {
    /// The client of a request, as the [`layer`] put it there; without it, the peer of
    /// axum's `ConnectInfo`, or `0.0.0.0:0`.
    pub(crate) fn of(request: &Request) -> Self {
        if let Some(client) = request.extensions().get::<Client>() {
            return *client;
        }
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0);
        Self {
            peer,
            ip: peer.ip(),
        }
    }

    /// For log lines: the peer (`ip:port`) when it is the client, else the client's address.
    pub(crate) fn shown(&self) -> String {
        if self.forwarded() {
            self.ip.to_string()
        } else {
            self.peer.to_string()
        }
    }

    /// The proxy, when the client's address was forwarded.
    pub(crate) fn via(&self) -> Option<SocketAddr> {
        self.forwarded().then_some(self.peer)
    }

    fn forwarded(&self) -> bool {
        self.ip != self.peer.ip()
    }
}

/// One hop of a forwarding header: an address (with or without a port, IPv6 in brackets
/// or bare), or `None` for `unknown`, an obfuscated name, bytes that are not UTF-8 or
/// anything else.
fn hop_address(hop: &[u8]) -> Option<IpAddr> {
    let hop = std::str::from_utf8(hop.trim_ascii()).ok()?;
    let hop = hop.strip_prefix('"').unwrap_or(hop);
    let hop = hop.strip_suffix('"').unwrap_or(hop);
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// The values of every field named `name`, split at commas on their raw bytes, in order.
fn hops<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Vec<&'a [u8]> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .collect()
}

/// The `for=` parameter of each element of `Forwarded`, in order (empty for an element
/// without one, which stops the walk like any hop that is not an address).
fn forwarded_for(headers: &HeaderMap) -> Vec<&[u8]> {
    hops(headers, &header::FORWARDED)
        .into_iter()
        .map(|element| {
            element
                .split(|b| *b == b';')
                .filter_map(|pair| {
                    let at = pair.iter().position(|b| *b == b'=')?;
                    Some((&pair[..at], &pair[at + 1..]))
                })
                .find(|(name, _)| name.trim_ascii().eq_ignore_ascii_case(b"for"))
                .map_or(&[][..], |(_, value)| value)
        })
        .collect()
}

/// How the client's address was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// The peer is the client, or the header named it.
    Plain,
    /// A hop was not an address: the client is the nearest trusted proxy's peer.
    MalformedHop,
}

/// The client address of a request from `peer`, and how it was found.
pub(crate) fn client_address(
    proxies: &Proxies,
    peer: IpAddr,
    headers: &HeaderMap,
) -> (IpAddr, Found) {
    if !proxies.trusts(peer) {
        return (peer, Found::Plain);
    }
    let chain = match proxies.header {
        ForwardedHeader::Forwarded => forwarded_for(headers),
        ForwardedHeader::XForwardedFor => hops(headers, &proxies.header.name()),
    };
    // Right to left: each trusted hop vouches for the one before it.
    let mut client = peer;
    for hop in chain.iter().rev() {
        match hop_address(hop) {
            Some(ip) if proxies.trusts(ip) => client = ip,
            Some(ip) => return (ip.to_canonical(), Found::Plain),
            // The last trusted proxy could not say who sent it the request.
            None => return (client, Found::MalformedHop),
        }
    }
    (client, Found::Plain)
}

/// The middleware that puts the [`Client`] on each request.
pub(crate) async fn layer(
    axum::extract::State(proxies): axum::extract::State<Proxies>,
    mut request: Request,
    next: axum::middleware::Next,
) -> Response {
    let peer = Client::of(&request).peer;
    let (ip, found) = client_address(&proxies, peer.ip(), request.headers());
    if found == Found::MalformedHop && crate::logs::allow(ip) {
        tracing::warn!(
            %peer,
            client = %ip,
            header = proxies.header.name().as_str(),
            "a forwarded hop is not an address: the client is taken to be the nearest trusted \
             proxy's peer"
        );
    }
    request.extensions_mut().insert(Client { peer, ip });
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(fields: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in fields {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let proxies = Proxies::new(
            &["10.0.0.0/8".parse().unwrap()],
            ForwardedHeader::XForwardedFor,
        );
        let forwarded = Proxies::new(&["10.0.0.0/8".parse().unwrap()], ForwardedHeader::Forwarded);
        let proxy = ip("10.0.0.1");
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "10.0.0.1"),
            (&[("x-forwarded-for", "203.0.113.7")], "203.0.113.7"),
            (
                &[("x-forwarded-for", "1.1.1.1, 203.0.113.7, 10.0.0.2")],
                "203.0.113.7",
            ),
            (
                &[
                    ("x-forwarded-for", "1.1.1.1"),
                    ("x-forwarded-for", "203.0.113.9"),
                ],
                "203.0.113.9",
            ),
            (&[("x-forwarded-for", "10.0.0.3, 10.0.0.2")], "10.0.0.3"),
            (&[("x-forwarded-for", "garbage, 10.0.0.2")], "10.0.0.2"),
            (&[("x-forwarded-for", "203.0.113.7:4711")], "203.0.113.7"),
            // Only the configured header is read: a client's own Forwarded, passed
            // through by a balancer that appends to X-Forwarded-For, does not win.
            (
                &[
                    ("forwarded", "for=6.6.6.6"),
                    ("x-forwarded-for", "192.0.2.2"),
                ],
                "192.0.2.2",
            ),
            (&[("forwarded", "for=6.6.6.6")], "10.0.0.1"),
        ];
        for (fields, want) in cases {
            assert_eq!(
                client_address(&proxies, proxy, &headers(fields)).0,
                ip(want),
                "{fields:?}"
            );
        }
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43")],
                "192.0.2.60",
            ),
            (
                &[(
                    "forwarded",
                    r#"for=1.2.3.4, for="[2001:db8:cafe::17]:4711""#,
                )],
                "2001:db8:cafe::17",
            ),
            (&[("forwarded", "for=unknown")], "10.0.0.1"),
            (
                &[
                    ("forwarded", "for=192.0.2.1"),
                    ("x-forwarded-for", "6.6.6.6"),
                ],
                "192.0.2.1",
            ),
            (&[("x-forwarded-for", "6.6.6.6")], "10.0.0.1"),
        ];
        for (fields, want) in cases {
            assert_eq!(
                client_address(&forwarded, proxy, &headers(fields)).0,
                ip(want),
                "{fields:?}"
            );
        }
    }

    #[test]
    fn a_byte_that_is_not_utf8_spoils_its_own_hop_only() {
        let proxies = Proxies::new(
            &["10.0.0.0/8".parse().unwrap()],
            ForwardedHeader::XForwardedFor,
        );
        let with = |raw: &[u8]| {
            let mut map = HeaderMap::new();
            map.append(
                "x-forwarded-for",
                axum::http::HeaderValue::from_bytes(raw).unwrap(),
            );
            client_address(&proxies, ip("10.0.0.1"), &map)
        };
        // The client's own junk to the left of the proxy's hop changes nothing.
        assert_eq!(
            with(b"\xff\xfe, 203.0.113.7"),
            (ip("203.0.113.7"), Found::Plain)
        );
        assert_eq!(
            with(b"1.1.1.1, 203.0.113.7, 10.0.0.2"),
            (ip("203.0.113.7"), Found::Plain)
        );
        // A malformed hop where the proxy's should be: the nearest trusted proxy's peer
        // (here the hop 10.0.0.2 vouched for), reported as such.
        assert_eq!(
            with(b"203.0.113.7, \xff, 10.0.0.2"),
            (ip("10.0.0.2"), Found::MalformedHop)
        );
        assert_eq!(with(b"\xff"), (ip("10.0.0.1"), Found::MalformedHop));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let proxies = Proxies::new(&["10.0.0.0/8".parse().unwrap()], ForwardedHeader::Forwarded);
        let fields = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("forwarded", "for=1.2.3.4"),
        ]);
        assert_eq!(
            client_address(&proxies, ip("192.0.2.9"), &fields).0,
            ip("192.0.2.9")
        );
        assert_eq!(
            client_address(&Proxies::default(), ip("10.0.0.1"), &fields).0,
            ip("10.0.0.1")
        );
    }
}
