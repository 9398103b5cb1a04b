//! Node's `tls.checkServerIdentity(hostname, cert)`, rule for rule: an IP address is matched
//! against the certificate's IP SANs only; a DNS name against its DNS SANs (wildcards as Node's
//! `check()` allows them), or against its subject CN when it has no DNS SAN. The error is
//! `ERR_TLS_CERT_ALTNAME_INVALID` with Node's message.

use std::net::IpAddr;

use super::cert::{AltName, Cert};
use super::errors::{x509, Refusal};

/// Node's `unfqdn`: one trailing dot off.
fn unfqdn(host: &str) -> &str {
    host.strip_suffix('.').unwrap_or(host)
}

/// Node's `splitHost`: A-Z lowercased (nothing else), split at dots.
fn split_host(host: &str) -> Vec<String> {
    unfqdn(host)
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .collect::<String>()
        .split('.')
        .map(str::to_string)
        .collect()
}

/// Node's `check(hostParts, pattern, wildcards = true)`.
fn matches(host_parts: &[String], pattern: &str) -> bool {
    if pattern.is_empty() {
        return false;
    }
    let pattern_parts = split_host(pattern);
    if host_parts.len() != pattern_parts.len() {
        return false;
    }
    if pattern_parts.iter().any(String::is_empty) {
        return false;
    }
    // Anything outside U+0021..U+007F (IDNA U-labels, blanks, controls) never matches.
    if pattern_parts
        .iter()
        .any(|p| p.chars().any(|c| !('\u{21}'..='\u{7f}').contains(&c)))
    {
        return false;
    }
    for i in (1..host_parts.len()).rev() {
        if host_parts[i] != pattern_parts[i] {
            return false;
        }
    }
    let host_sub = &host_parts[0];
    let pattern_sub = &pattern_parts[0];
    let pieces: Vec<&str> = pattern_sub.split('*').collect();
    if pieces.len() == 1 || pattern_sub.contains("xn--") {
        return host_sub == pattern_sub;
    }
    // One wildcard at most, and never in a *.tld pattern.
    if pieces.len() > 2 || pattern_parts.len() <= 2 {
        return false;
    }
    let (prefix, suffix) = (pieces[0], pieces[1]);
    prefix.len() + suffix.len() <= host_sub.len()
        && host_sub.starts_with(prefix)
        && host_sub.ends_with(suffix)
}

/// Node's `net.isIP`, as far as Rust's parser agrees (no zone ids).
fn ip(host: &str) -> Option<IpAddr> {
    host.parse().ok()
}

/// An IP address as Node's `canonicalizeIP` prints it.
fn ip_text(a: &IpAddr) -> String {
    a.to_string()
}

/// The subjectaltname string Node shows (`cert.subjectaltname`), as far as the message needs it.
pub fn alt_names_text(cert: &Cert) -> String {
    cert.alt_names
        .iter()
        .flatten()
        .filter_map(|n| match n {
            AltName::Dns(d) => Some(format!("DNS:{d}")),
            AltName::Ip(IpAddr::V4(a)) => Some(format!("IP Address:{a}")),
            AltName::Ip(IpAddr::V6(a)) => Some(format!(
                "IP Address:{}",
                a.segments()
                    .iter()
                    .map(|s| format!("{s:X}"))
                    .collect::<Vec<_>>()
                    .join(":")
            )),
            AltName::OtherIp(_) => Some("IP Address:<invalid>".into()),
            AltName::Email(e) => Some(format!("email:{e}")),
            AltName::Uri(u) => Some(format!("URI:{u}")),
            AltName::Other => None,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks `hostname` (the `servername` option, else the host) against the leaf certificate.
pub fn check_server_identity(hostname: &str, cert: &Cert) -> Result<(), Refusal> {
    let host = unfqdn(hostname);
    let reason = if let Some(addr) = ip(host) {
        let ips: Vec<&IpAddr> = cert
            .alt_names
            .iter()
            .flatten()
            .filter_map(|n| match n {
                AltName::Ip(a) => Some(a),
                _ => None,
            })
            .collect();
        if ips.iter().any(|a| **a == addr) {
            return Ok(());
        }
        format!(
            "IP: {host} is not in the cert's list: {}",
            ips.iter()
                .map(|a| ip_text(a))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        let dns = cert.dns_names();
        let cns = &cert.common_names;
        if !dns.is_empty() || cns.first().is_some_and(|c| !c.is_empty()) {
            let parts = split_host(host);
            if !dns.is_empty() {
                if dns.iter().any(|d| matches(&parts, d)) {
                    return Ok(());
                }
                format!(
                    "Host: {host}. is not in the cert's altnames: {}",
                    alt_names_text(cert)
                )
            } else {
                if cns.iter().any(|cn| matches(&parts, cn)) {
                    return Ok(());
                }
                format!("Host: {host}. is not cert's CN: {}", cns.join(","))
            }
        } else {
            "Cert does not contain a DNS name".to_string()
        }
    };
    Err(Refusal {
        code: x509::ALTNAME_INVALID.to_string(),
        message: format!("Hostname/IP does not match certificate's altnames: {reason}"),
        reason: x509::ALTNAME_INVALID.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: &str) -> Vec<String> {
        split_host(h)
    }

    #[test]
    fn wildcards_as_node_matches_them() {
        assert!(matches(&host("a.example.com"), "*.example.com"));
        assert!(matches(&host("A.Example.COM."), "*.example.com"));
        assert!(!matches(&host("example.com"), "*.example.com"));
        assert!(!matches(&host("a.b.example.com"), "*.example.com"));
        assert!(matches(&host("foo1.example.com"), "foo*.example.com"));
        assert!(matches(&host("foo.example.com"), "f*o.example.com"));
        assert!(!matches(&host("fo.example.com"), "f*o*.example.com"));
        assert!(!matches(&host("foo.com"), "*.com"));
        assert!(!matches(&host("xn--a.example.com"), "xn--*.example.com"));
        assert!(matches(&host("xn--a.example.com"), "xn--a.example.com"));
        assert!(!matches(&host("a.example.com"), "a..example.com"));
        assert!(!matches(&host("localhost"), "*.localhost"));
        assert!(!matches(&host("localhost"), ""));
        assert!(!matches(&host("bücher.example"), "bücher.example"));
        assert!(matches(&host("localhost"), "LOCALHOST"));
    }
}
