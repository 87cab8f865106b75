//! What a Seed task may reach on the network when it is granted the network: the public
//! internet, never the platform's own private addresses (loopback, private ranges,
//! link-local — cloud metadata included —, carrier-grade NAT, ULA) unless the operator
//! allows a range (`SEED_EGRESS_ALLOW`).
//!
//! Isolated shell steps keep a network namespace of their own even when granted the
//! network: the only way out is an HTTP proxy (`HTTP_PROXY`/`HTTPS_PROXY` inside the
//! sandbox point at it) served by the worker on a Unix socket bound into the sandbox
//! (`socat` relays the sandbox's `127.0.0.1:3128` to it). The proxy resolves each
//! destination itself, refuses any that resolves to a forbidden address with `403`, and
//! connects to the address it checked (so a name that resolves differently the second
//! time cannot slip through). HTTPS goes through `CONNECT` and stays end-to-end
//! encrypted; plain HTTP is relayed as sent. Whatever is not HTTP(S) through the proxy
//! has no way out. The worker's own fetches (`fetch` steps, `fetch_url`) resolve through
//! the same check, and each redirect is checked again.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnet::IpNet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixListener, UnixStream};

/// The port the sandbox's relay listens on (inside its own network namespace).
pub(crate) const PROXY_PORT: u16 = 3128;

/// Where the proxy's socket is bound inside the sandbox.
pub(crate) const SOCKET_IN_SANDBOX: &str = "/run/agentops/egress.sock";

/// Largest request head the proxy reads.
const HEAD_MAX: usize = 16 * 1024;

/// Which destinations are allowed: public addresses, and the operator's ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Egress {
    /// Ranges allowed although private (`SEED_EGRESS_ALLOW`).
    pub allow: Vec<IpNet>,
}

impl Egress {
    /// Whether `ip` may be reached.
    ///
    /// ```
    /// use agentops_agents::seed::Egress;
    ///
    /// let egress = Egress::default();
    /// assert!(egress.allows("1.1.1.1".parse().unwrap()));
    /// assert!(!egress.allows("169.254.169.254".parse().unwrap()));
    /// let allowed = Egress { allow: vec!["10.0.0.0/8".parse().unwrap()] };
    /// assert!(allowed.allows("10.1.2.3".parse().unwrap()));
    /// ```
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        is_public(ip) || self.allow.iter().any(|net| net.contains(&ip))
    }

    /// Why `host` cannot be reached, if it cannot: the first address it resolves to that
    /// is not allowed. Otherwise its addresses.
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|err| format!("cannot resolve {host}: {err}"))?
            .collect();
        if addrs.is_empty() {
            return Err(format!("{host} resolves to no address"));
        }
        if let Some(refused) = addrs.iter().find(|a| !self.allows(a.ip())) {
            return Err(format!(
                "{host} resolves to {}, a private address this sandbox may not reach \
                 (an operator may allow a range with SEED_EGRESS_ALLOW)",
                refused.ip()
            ));
        }
        Ok(addrs)
    }
}

/// An IPv4 address mapped into IPv6 is checked as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `ip` is a public unicast address.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        // Carrier-grade NAT (100.64.0.0/10).
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments (192.0.0.0/24) and benchmarking (198.18.0.0/15).
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local (fc00::/7) and link-local (fe80::/10).
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        // Documentation (2001:db8::/32).
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

/// A resolver for the worker's own HTTP client that refuses forbidden addresses.
#[derive(Debug, Clone)]
pub(crate) struct Resolver(pub Arc<Egress>);

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let egress = self.0.clone();
        Box::pin(async move {
            let addrs = egress
                .resolve(name.as_str(), 0)
                .await
                .map_err(|why| -> Box<dyn std::error::Error + Send + Sync> { why.into() })?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Why a URL may not be fetched: its host is an address literal that is not allowed
/// (names are checked by [`Resolver`] when they resolve).
pub(crate) fn refuse_literal(egress: &Egress, url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    (!egress.allows(ip)).then(|| {
        format!(
            "{ip} is a private address this sandbox may not reach (an operator may allow a \
             range with SEED_EGRESS_ALLOW)"
        )
    })
}

/// The egress proxy of one sandbox: a Unix socket in a directory of its own, served
/// until dropped.
#[derive(Debug)]
pub(crate) struct Proxy {
    dir: PathBuf,
    serve: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Serves the proxy on `dir/egress.sock` (the directory is made, readable and
    /// writable by the sandbox's user).
    pub(crate) fn start(dir: &Path, egress: Arc<Egress>) -> std::io::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir)?;
        let socket = dir.join("egress.sock");
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket)?;
        // The step may run as `nobody`: it must be able to connect.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o777))?;
        let serve = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let egress = egress.clone();
                tokio::spawn(async move {
                    if let Err(err) = relay(stream, &egress).await {
                        tracing::debug!("egress proxy connection: {err}");
                    }
                });
            }
        });
        Ok(Self {
            dir: dir.to_owned(),
            serve,
        })
    }

    /// The directory holding the socket (bound into the sandbox at `/run/agentops`).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.serve.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One client connection: reads the request head, checks the destination, then relays
/// both ways.
async fn relay(mut client: UnixStream, egress: &Egress) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    let end = loop {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if head.len() > HEAD_MAX {
            return answer(&mut client, 431, "request head too large").await;
        }
    };
    let line = String::from_utf8_lossy(&head[..head.iter().position(|&b| b == b'\r').unwrap_or(0)])
        .into_owned();
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let connect = method.eq_ignore_ascii_case("CONNECT");
    let Some((host, port)) = destination(connect, target) else {
        return answer(
            &mut client,
            400,
            "this proxy takes CONNECT host:port or an absolute http:// URL",
        )
        .await;
    };
    let addrs = match egress.resolve(&host, port).await {
        Ok(addrs) => addrs,
        Err(why) => {
            tracing::info!(%host, port, "egress refused: {why}");
            return answer(&mut client, 403, &format!("egress refused: {why}")).await;
        }
    };
    let mut upstream = match TcpStream::connect(&addrs[..]).await {
        Ok(upstream) => upstream,
        Err(err) => {
            return answer(
                &mut client,
                502,
                &format!("cannot connect to {host}:{port}: {err}"),
            )
            .await;
        }
    };
    if connect {
        client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await?;
        upstream.write_all(&head[end..]).await?;
    } else {
        upstream.write_all(&head).await?;
    }
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// The host and port a request goes to: `host:port` of a `CONNECT`, or the authority of
/// an absolute `http://` URL (port 80 by default).
fn destination(connect: bool, target: &str) -> Option<(String, u16)> {
    if connect {
        let (host, port) = target.rsplit_once(':')?;
        return Some((host.to_owned(), port.parse().ok()?));
    }
    let url = reqwest::Url::parse(target).ok()?;
    if url.scheme() != "http" {
        return None;
    }
    Some((url.host_str()?.to_owned(), url.port_or_known_default()?))
}

async fn answer(client: &mut UnixStream, status: u16, message: &str) -> std::io::Result<()> {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        431 => "Request Header Fields Too Large",
        _ => "Bad Gateway",
    };
    let body = format!("{message}\n");
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    client.write_all(response.as_bytes()).await?;
    client.shutdown().await
}

/// The lines that start a step's relay to the proxy: `socat` relays `127.0.0.1:3128`
/// in the sandbox to the worker's socket; the step starts once it listens.
pub(crate) fn relay_lines() -> String {
    format!(
        "socat TCP-LISTEN:{PROXY_PORT},bind=127.0.0.1,fork,reuseaddr \
         UNIX-CONNECT:{SOCKET_IN_SANDBOX} </dev/null >/dev/null 2>&1 &\n\
         i=0\n\
         while [ $i -lt 300 ] && ! socat -u OPEN:/dev/null TCP:127.0.0.1:{PROXY_PORT} 2>/dev/null; do\n\
         i=$((i+1)); sleep 0.01\n\
         done\n"
    )
}

/// The variables that send a step's HTTP(S) through the proxy.
pub(crate) fn proxy_environment() -> Vec<(String, String)> {
    let proxy = format!("http://127.0.0.1:{PROXY_PORT}");
    let mut vars = Vec::new();
    for key in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
        "ALL_PROXY",
    ] {
        vars.push((key.to_owned(), proxy.clone()));
    }
    vars.push(("NO_PROXY".to_owned(), "localhost,127.0.0.1,::1".to_owned()));
    vars.push(("no_proxy".to_owned(), "localhost,127.0.0.1,::1".to_owned()));
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass_unless_a_range_is_allowed() {
        let egress = Egress::default();
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!egress.allows(private.parse().unwrap()), "{private}");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert!(egress.allows(public.parse().unwrap()), "{public}");
        }
        let allowed = Egress {
            allow: vec!["127.0.0.1/32".parse().unwrap()],
        };
        assert!(allowed.allows("127.0.0.1".parse().unwrap()));
        assert!(!allowed.allows("127.0.0.2".parse().unwrap()));
    }

    #[test]
    fn destinations_come_from_connect_or_an_absolute_url() {
        assert_eq!(
            destination(true, "example.com:443"),
            Some(("example.com".into(), 443))
        );
        assert_eq!(destination(true, "[::1]:443"), Some(("[::1]".into(), 443)));
        assert_eq!(
            destination(false, "http://example.com/a?b"),
            Some(("example.com".into(), 80))
        );
        assert_eq!(destination(false, "/relative"), None);
        assert_eq!(destination(false, "ftp://example.com/"), None);
        assert_eq!(destination(true, "no-port"), None);
    }
}
