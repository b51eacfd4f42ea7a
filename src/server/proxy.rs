//! The PROXY protocol header (v1 text, v2 binary) that a load balancer puts
//! before the SSH stream to say whom it is forwarding: read from the
//! connections of trusted balancers only (`proxy_protocol_from`), before
//! any check that looks at the source address, so that penalties,
//! per-address caps, the sessions table and every log line see the client
//! and not the balancer.
//!
//! The header is read byte-exactly: an SSH client sends its identification
//! line without waiting for ours, so the bytes after the header may already
//! be in the socket, and they belong to russh. At most
//! [`MAX_HEADER_BYTES`] are read, and the caller bounds the time. Parsing
//! is the `ppp` crate's; this file only finds the header's end and turns
//! the result into an address.
//!
//! A header that names no IP source (v2 `LOCAL`, as a balancer's health
//! check sends; v1 `UNKNOWN`; v2 `UNSPEC` or `UNIX` addresses) leaves the
//! connection as the balancer's own, as the protocol's text asks. It does
//! not know the trusted list, sockets beyond `AsyncRead`, nor SSH.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Most bytes a header may take: v2's 16 fixed bytes, its largest address
/// block (AF_UNIX, 216 bytes) and about 790 bytes of TLVs, more than a
/// balancer's usual set (ALPN, authority, a unique id, TLS details). v1
/// headers are at most [`V1_MAX_BYTES`].
pub const MAX_HEADER_BYTES: usize = 1024;

/// The longest v1 header, CRLF included, as the protocol fixes it.
const V1_MAX_BYTES: usize = 107;

/// Bytes read before the version is known: the shortest header of either
/// version (`PROXY UNKNOWN\r\n` is 15 bytes, v2's fixed part 16), so this
/// read never takes a byte of the SSH stream behind a valid header.
const FIRST_READ_BYTES: usize = 15;

/// v2's fixed part: the 12-byte signature, version and command, family and
/// protocol, and the length of what follows.
const V2_FIXED_BYTES: usize = 16;

/// How long a trusted balancer may take to send its header once connected,
/// unless the login grace is shorter. A balancer writes it as soon as the
/// connection to us is open, before any byte of the client; seconds of
/// delay mean a stuck or hostile peer, not a slow client.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Whom a trusted connection carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announced {
    /// A client's address and port, as the balancer saw them.
    Client(SocketAddr),
    /// No client address (v2 `LOCAL`, v1 `UNKNOWN`, no IP family): the
    /// connection is the balancer's own.
    Balancer,
}

/// Why a trusted peer's connection was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProxyHeaderError {
    /// The first bytes are neither `PROXY ` nor v2's signature.
    #[error("no PROXY protocol header")]
    Missing,
    /// The header does not end within [`MAX_HEADER_BYTES`].
    #[error("PROXY protocol header longer than {limit} bytes (at least {bytes})")]
    TooLong {
        /// What the header announced or had reached.
        bytes: usize,
        /// The limit it passed.
        limit: usize,
    },
    /// The header ended but does not parse.
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(String),
    /// The peer closed or the socket failed before the header ended.
    #[error("connection ended inside the PROXY protocol header: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one PROXY header from `stream`, and not a byte more.
pub async fn read_header<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<Announced, ProxyHeaderError> {
    let mut header = vec![0u8; FIRST_READ_BYTES];
    stream.read_exact(&mut header).await?;
    if header.starts_with(ppp::v2::PROTOCOL_PREFIX) {
        read_v2(stream, header).await
    } else if header.starts_with(b"PROXY ") {
        read_v1(stream, header).await
    } else {
        Err(ProxyHeaderError::Missing)
    }
}

/// The rest of a v2 header after its first [`FIRST_READ_BYTES`].
async fn read_v2<S: AsyncRead + Unpin>(
    stream: &mut S,
    mut header: Vec<u8>,
) -> Result<Announced, ProxyHeaderError> {
    header.resize(V2_FIXED_BYTES, 0);
    let tail = header.get_mut(FIRST_READ_BYTES..).unwrap_or_default();
    stream.read_exact(tail).await?;
    let length = match header.get(V2_FIXED_BYTES - 2..) {
        Some(&[high, low]) => usize::from(u16::from_be_bytes([high, low])),
        _ => 0,
    };
    let total = V2_FIXED_BYTES + length;
    if total > MAX_HEADER_BYTES {
        return Err(ProxyHeaderError::TooLong {
            bytes: total,
            limit: MAX_HEADER_BYTES,
        });
    }
    header.resize(total, 0);
    let rest = header.get_mut(V2_FIXED_BYTES..).unwrap_or_default();
    stream.read_exact(rest).await?;
    let parsed = ppp::v2::Header::try_from(header.as_slice())
        .map_err(|err| ProxyHeaderError::Malformed(err.to_string()))?;
    Ok(match (parsed.command, parsed.addresses) {
        (ppp::v2::Command::Local, _) => Announced::Balancer,
        (ppp::v2::Command::Proxy, ppp::v2::Addresses::IPv4(v4)) => Announced::Client(
            SocketAddr::new(IpAddr::V4(v4.source_address), v4.source_port),
        ),
        (ppp::v2::Command::Proxy, ppp::v2::Addresses::IPv6(v6)) => Announced::Client(
            client_address(IpAddr::V6(v6.source_address), v6.source_port),
        ),
        (
            ppp::v2::Command::Proxy,
            ppp::v2::Addresses::Unspecified | ppp::v2::Addresses::Unix(_),
        ) => Announced::Balancer,
    })
}

/// The rest of a v1 header: byte by byte up to its CRLF, since what
/// follows it is the client's.
async fn read_v1<S: AsyncRead + Unpin>(
    stream: &mut S,
    mut header: Vec<u8>,
) -> Result<Announced, ProxyHeaderError> {
    while !header.ends_with(b"\r\n") {
        if header.len() >= V1_MAX_BYTES {
            return Err(ProxyHeaderError::TooLong {
                bytes: header.len() + 1,
                limit: V1_MAX_BYTES,
            });
        }
        header.push(stream.read_u8().await?);
    }
    let parsed = ppp::v1::Header::try_from(header.as_slice())
        .map_err(|err| ProxyHeaderError::Malformed(err.to_string()))?;
    Ok(match parsed.addresses {
        ppp::v1::Addresses::Tcp4(v4) => Announced::Client(SocketAddr::new(
            IpAddr::V4(v4.source_address),
            v4.source_port,
        )),
        ppp::v1::Addresses::Tcp6(v6) => Announced::Client(client_address(
            IpAddr::V6(v6.source_address),
            v6.source_port,
        )),
        ppp::v1::Addresses::Unknown => Announced::Balancer,
    })
}

/// An announced IPv6 source, as an IPv4 address when it is IPv4-mapped (a
/// dual-stack balancer's view of an IPv4 client), so that the per-address
/// caps count one client once.
fn client_address(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip.to_canonical(), port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Reads a header from `bytes` followed by an SSH identification line;
    /// the outcome and what is left unread of the stream.
    async fn read(bytes: &[u8]) -> (Result<Announced, ProxyHeaderError>, Vec<u8>) {
        let (mut client, mut server) = tokio::io::duplex(4096);
        client.write_all(bytes).await.unwrap();
        client.write_all(b"SSH-2.0-client\r\n").await.unwrap();
        drop(client);
        let outcome = read_header(&mut server).await;
        let mut rest = Vec::new();
        server.read_to_end(&mut rest).await.unwrap();
        (outcome, rest)
    }

    fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
        let mut header = ppp::v2::PROTOCOL_PREFIX.to_vec();
        header.push(0x20 | command);
        header.push(family);
        header.extend_from_slice(&u16::try_from(addresses.len()).unwrap().to_be_bytes());
        header.extend_from_slice(addresses);
        header
    }

    #[tokio::test]
    async fn a_v1_header_gives_the_client_and_leaves_the_ssh_stream_whole() {
        let (outcome, rest) = read(b"PROXY TCP4 198.51.100.7 192.0.2.1 40001 2222\r\n").await;
        assert_eq!(
            outcome.unwrap(),
            Announced::Client("198.51.100.7:40001".parse().unwrap())
        );
        assert_eq!(rest, b"SSH-2.0-client\r\n");
        let (outcome, _) = read(b"PROXY TCP6 2001:db8::7 2001:db8::1 40002 2222\r\n").await;
        assert_eq!(
            outcome.unwrap(),
            Announced::Client("[2001:db8::7]:40002".parse().unwrap())
        );
        let (outcome, rest) = read(b"PROXY UNKNOWN\r\n").await;
        assert_eq!(outcome.unwrap(), Announced::Balancer);
        assert_eq!(rest, b"SSH-2.0-client\r\n");
    }

    #[tokio::test]
    async fn a_v2_header_gives_the_client_and_local_means_the_balancer() {
        let v4 = [198, 51, 100, 7, 192, 0, 2, 1, 0x9c, 0x41, 0x08, 0xae];
        let (outcome, rest) = read(&v2(1, 0x11, &v4)).await;
        assert_eq!(
            outcome.unwrap(),
            Announced::Client("198.51.100.7:40001".parse().unwrap())
        );
        assert_eq!(rest, b"SSH-2.0-client\r\n");
        let mut v6 = Vec::new();
        v6.extend_from_slice(
            &"::ffff:203.0.113.9"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        v6.extend_from_slice(
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        v6.extend_from_slice(&[0x9c, 0x42, 0x08, 0xae]);
        let (outcome, _) = read(&v2(1, 0x21, &v6)).await;
        assert_eq!(
            outcome.unwrap(),
            Announced::Client("203.0.113.9:40002".parse().unwrap()),
            "an IPv4-mapped source counts as its IPv4 address"
        );
        let (outcome, rest) = read(&v2(0, 0x00, &[])).await;
        assert_eq!(outcome.unwrap(), Announced::Balancer);
        assert_eq!(rest, b"SSH-2.0-client\r\n");
        // TLVs after the addresses are read and skipped.
        let mut with_tlv = v4.to_vec();
        with_tlv.extend_from_slice(&[0x04, 0x00, 0x03, 0, 0, 0]);
        let (outcome, rest) = read(&v2(1, 0x11, &with_tlv)).await;
        assert!(matches!(outcome.unwrap(), Announced::Client(_)));
        assert_eq!(rest, b"SSH-2.0-client\r\n");
    }

    #[tokio::test]
    async fn what_is_not_a_header_is_refused() {
        let (outcome, _) = read(b"").await;
        assert!(
            matches!(outcome, Err(ProxyHeaderError::Missing)),
            "{outcome:?}"
        );
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(b"PROXY TCP4 1.2").await.unwrap();
        drop(client);
        let outcome = read_header(&mut server).await;
        assert!(
            matches!(outcome, Err(ProxyHeaderError::Io(_))),
            "{outcome:?}"
        );
        for malformed in [
            &b"PROXY TCP4 198.51.100.777 192.0.2.1 1 2\r\n"[..],
            b"PROXY TCP4 198.51.100.7 192.0.2.1 99999 2\r\n",
            b"PROXY UDP4 198.51.100.7 192.0.2.1 1 2\r\n",
            &v2(1, 0x11, &[1, 2, 3]),
            &v2(2, 0x11, &[0; 12]),
        ] {
            let (outcome, _) = read(malformed).await;
            assert!(
                matches!(outcome, Err(ProxyHeaderError::Malformed(_))),
                "{:?}: {outcome:?}",
                String::from_utf8_lossy(malformed)
            );
        }
    }

    #[tokio::test]
    async fn an_oversized_header_is_refused_before_it_is_read() {
        let mut huge = ppp::v2::PROTOCOL_PREFIX.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        let (outcome, rest) = read(&huge).await;
        assert!(
            matches!(outcome, Err(ProxyHeaderError::TooLong { bytes: 65551, .. })),
            "{outcome:?}"
        );
        assert_eq!(
            rest, b"SSH-2.0-client\r\n",
            "nothing past the fixed part was read"
        );
        let mut endless = b"PROXY TCP4 198.51.100.7 192.0.2.1 1 2".to_vec();
        endless.resize(200, b' ');
        let (outcome, _) = read(&endless).await;
        assert!(
            matches!(outcome, Err(ProxyHeaderError::TooLong { limit: 107, .. })),
            "{outcome:?}"
        );
    }
}
