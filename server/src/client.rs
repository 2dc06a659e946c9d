//! Who a request comes from: the peer of its connection, or, when that peer is a trusted
//! proxy (`--trusted-proxy`), the address it forwards in `Forwarded` (RFC 7239) or
//! `X-Forwarded-For`: the right-most hop that is not itself trusted, since every hop to
//! its left was written by the client and can be anything. From other peers those headers
//! are ignored. Rate limits and audit lines use this address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderName, header};
use axum::response::Response;
use ipnet::IpNet;

/// The networks whose peers may name the client.
#[derive(Clone, Debug, Default)]
pub(crate) struct Proxies(Arc<[IpNet]>);

impl Proxies {
    pub(crate) fn new(networks: &[IpNet]) -> Self {
        Self(networks.iter().copied().collect())
    }

    pub(crate) fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
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
/// or bare), or `None` for `unknown`, an obfuscated name or anything else.
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim().trim_matches('"');
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// The values of every field named `name`, split at commas, in order.
fn hops<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .collect()
}

/// The `for=` parameter of each element of `Forwarded`, in order (`?` for an element
/// without one, which stops the walk like any hop that is not an address).
fn forwarded_for(headers: &HeaderMap) -> Vec<&str> {
    hops(headers, &header::FORWARDED)
        .into_iter()
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                .map_or("?", |(_, value)| value)
        })
        .collect()
}

/// The client address of a request from `peer`.
pub(crate) fn client_address(proxies: &Proxies, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    if !proxies.trusts(peer) {
        return peer;
    }
    let chain = if headers.contains_key(header::FORWARDED) {
        forwarded_for(headers)
    } else {
        hops(headers, &HeaderName::from_static("x-forwarded-for"))
    };
    // Right to left: each trusted hop vouches for the one before it.
    let mut client = peer;
    for hop in chain.iter().rev() {
        match hop_address(hop) {
            Some(ip) if proxies.trusts(ip) => client = ip,
            Some(ip) => return ip.to_canonical(),
            // The last trusted proxy could not say who sent it the request.
            None => return client,
        }
    }
    client
}

/// The middleware that puts the [`Client`] on each request.
pub(crate) async fn layer(
    axum::extract::State(proxies): axum::extract::State<Proxies>,
    mut request: Request,
    next: axum::middleware::Next,
) -> Response {
    let peer = Client::of(&request).peer;
    let ip = client_address(&proxies, peer.ip(), request.headers());
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
        let proxies = Proxies::new(&["10.0.0.0/8".parse().unwrap()]);
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
            // Forwarded wins over X-Forwarded-For.
            (
                &[
                    ("forwarded", "for=192.0.2.1"),
                    ("x-forwarded-for", "192.0.2.2"),
                ],
                "192.0.2.1",
            ),
        ];
        for (fields, want) in cases {
            assert_eq!(
                client_address(&proxies, proxy, &headers(fields)),
                ip(want),
                "{fields:?}"
            );
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let proxies = Proxies::new(&["10.0.0.0/8".parse().unwrap()]);
        let fields = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("forwarded", "for=1.2.3.4"),
        ]);
        assert_eq!(
            client_address(&proxies, ip("192.0.2.9"), &fields),
            ip("192.0.2.9")
        );
        assert_eq!(
            client_address(&Proxies::default(), ip("10.0.0.1"), &fields),
            ip("10.0.0.1")
        );
    }
}
