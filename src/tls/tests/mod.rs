//! Unit tests of the verifier on certificates made for the test by the openssl command line
//! (nothing that can expire is checked in; without openssl the tests say so and pass). The
//! expected codes are Node's (OpenSSL 3) verdicts for the same chains.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::cert::Cert;
use super::errors::x509;
use super::verify::{verify_chain, TrustStore};
use super::{algorithms, name, parse_certificates};
use crate::config::TlsOptions;

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

static N: AtomicUsize = AtomicUsize::new(0);

fn openssl(args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn tempdir() -> Option<Dir> {
    if !openssl(&["version"]) {
        eprintln!("openssl not found: certificate tests skipped");
        return None;
    }
    let dir = std::env::temp_dir().join(format!(
        "aliyun-iot-amqp-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).ok()?;
    Some(Dir(dir))
}

/// A key and certificate pair on disk.
#[derive(Clone)]
struct Made {
    key: String,
    cert: String,
}

impl Made {
    fn parsed(&self) -> Cert {
        let pem = std::fs::read(&self.cert).expect("cert file");
        let der = parse_certificates(&pem).expect("pem").remove(0);
        Cert::parse(der.as_ref()).expect("parse")
    }
}

fn path(d: &Path, name: &str) -> String {
    d.join(name).to_string_lossy().into_owned()
}

fn key(d: &Path, spec: &str) -> String {
    let f = path(d, &format!("k{}.pem", N.fetch_add(1, Ordering::SeqCst)));
    let ok = match spec.split_once(':') {
        Some(("rsa", bits)) => openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            &format!("rsa_keygen_bits:{bits}"),
            "-out",
            &f,
        ]),
        Some(("ec", curve)) => openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            &format!("ec_paramgen_curve:{curve}"),
            "-out",
            &f,
        ]),
        _ => openssl(&["genpkey", "-algorithm", spec, "-out", &f]),
    };
    assert!(ok, "genpkey {spec}");
    f
}

/// A certificate for `subject` with `key`, signed by `issuer` (self-signed when `None`), with
/// extension lines `ext` (none: an X.509 v1 certificate).
fn cert(d: &Path, subject: &str, key: &str, issuer: Option<&Made>, ext: &[&str]) -> Made {
    let id = N.fetch_add(1, Ordering::SeqCst);
    let csr = path(d, &format!("r{id}.csr"));
    let out = path(d, &format!("c{id}.pem"));
    assert!(openssl(&[
        "req", "-new", "-key", key, "-subj", subject, "-out", &csr
    ]));
    let mut args: Vec<String> = [
        "x509", "-req", "-in", &csr, "-out", &out, "-days", "30", "-sha256",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    match issuer {
        Some(i) => args.extend(
            [
                "-CA",
                &i.cert,
                "-CAkey",
                &i.key,
                "-set_serial",
                &format!("{}", id + 100),
            ]
            .map(String::from),
        ),
        None => args.extend(["-signkey", key].map(String::from)),
    }
    if !ext.is_empty() {
        let f = path(d, &format!("e{id}.cnf"));
        std::fs::write(&f, format!("[x]\n{}\n", ext.join("\n"))).expect("ext");
        args.extend(["-extfile", &f, "-extensions", "x"].map(String::from));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    assert!(openssl(&refs), "x509 {subject}");
    Made {
        key: key.to_string(),
        cert: out,
    }
}

const CA: &[&str] = &[
    "basicConstraints = critical, CA:TRUE",
    "keyUsage = critical, keyCertSign, cRLSign",
    "subjectKeyIdentifier = hash",
    "authorityKeyIdentifier = keyid:always",
];
const LEAF: &[&str] = &[
    "basicConstraints = CA:FALSE",
    "subjectKeyIdentifier = hash",
    "authorityKeyIdentifier = keyid",
    "subjectAltName = DNS:localhost, IP:127.0.0.1",
];

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn store(certs: &[&Made]) -> TrustStore {
    let mut s = TrustStore::new();
    for c in certs {
        s.add(c.parsed());
    }
    s
}

fn code(store: &TrustStore, chain: &[&Made], at: i64) -> String {
    let peer: Vec<Cert> = chain.iter().map(|m| m.parsed()).collect();
    match verify_chain(store, &peer, at, 1) {
        Ok(()) => "OK".into(),
        Err(r) => r.code,
    }
}

#[test]
fn chains_get_nodes_verdicts() {
    let Some(dir) = tempdir() else { return };
    let d = &dir.0;
    let rsa = key(d, "rsa:2048");
    let root = cert(d, "/O=t/CN=Root", &key(d, "rsa:2048"), None, CA);
    let int = cert(
        d,
        "/O=t/CN=Intermediate",
        &key(d, "ec:P-256"),
        Some(&root),
        CA,
    );
    let leaf = cert(d, "/CN=localhost", &rsa, Some(&root), LEAF);
    let via_int = cert(d, "/CN=localhost", &rsa, Some(&int), LEAF);
    let v1_leaf = cert(d, "/CN=localhost", &rsa, Some(&root), &[]);
    let ss_ca = cert(
        d,
        "/CN=localhost",
        &key(d, "rsa:2048"),
        None,
        &[
            "basicConstraints = critical, CA:TRUE",
            "subjectKeyIdentifier = hash",
            "authorityKeyIdentifier = keyid:always",
            "subjectAltName = DNS:localhost",
        ],
    );
    let ss_v1 = cert(d, "/O=v1/CN=localhost", &key(d, "rsa:2048"), None, &[]);
    let ss_1024 = cert(d, "/O=small/CN=localhost", &key(d, "rsa:1024"), None, LEAF);
    let client_only = cert(
        d,
        "/CN=localhost",
        &rsa,
        Some(&root),
        &[LEAF, &["extendedKeyUsage = clientAuth"]].concat(),
    );
    let not_ca = cert(
        d,
        "/O=t/CN=Not a CA",
        &key(d, "rsa:2048"),
        Some(&root),
        &LEAF[..3],
    );
    let under_not_ca = cert(d, "/CN=localhost", &rsa, Some(&not_ca), LEAF);
    let ed = cert(d, "/CN=localhost", &key(d, "ED25519"), Some(&root), LEAF);
    let p384 = cert(d, "/CN=localhost", &key(d, "ec:P-384"), Some(&int), LEAF);

    // Node 24's level 2 (112 bits): RSA-1024 is too weak, as an issuer or a leaf.
    let small_root = cert(d, "/O=t/CN=Small", &key(d, "rsa:1024"), None, CA);
    let under_small = cert(d, "/CN=localhost", &rsa, Some(&small_root), LEAF);

    // Taken after every certificate is made: each one is valid from the second it was made.
    let t = now();
    let later = t + 365 * 86_400;
    let earlier = t - 365 * 86_400;
    let trusted = store(&[&root, &ss_ca, &ss_v1, &ss_1024]);
    let partial = store(&[&int]);
    let none = TrustStore::new();

    let cases: &[(&str, &TrustStore, Vec<&Made>, i64, &str)] = &[
        ("CA-signed leaf", &trusted, vec![&leaf], t, "OK"),
        ("v1 CA-signed leaf", &trusted, vec![&v1_leaf], t, "OK"),
        ("Ed25519 leaf", &trusted, vec![&ed], t, "OK"),
        (
            "P-384 leaf under an EC intermediate",
            &trusted,
            vec![&p384, &int],
            t,
            "OK",
        ),
        (
            "trusted self-signed CA:TRUE",
            &trusted,
            vec![&ss_ca],
            t,
            "OK",
        ),
        ("trusted self-signed v1", &trusted, vec![&ss_v1], t, "OK"),
        (
            "trusted self-signed RSA-1024",
            &trusted,
            vec![&ss_1024],
            t,
            "OK",
        ),
        (
            "untrusted self-signed",
            &none,
            vec![&ss_ca],
            t,
            x509::DEPTH_ZERO_SELF_SIGNED_CERT,
        ),
        (
            "untrusted self-signed, expired",
            &none,
            vec![&ss_ca],
            later,
            x509::CERT_HAS_EXPIRED,
        ),
        (
            "trusted self-signed, not yet valid",
            &trusted,
            vec![&ss_ca],
            earlier,
            x509::CERT_NOT_YET_VALID,
        ),
        ("intermediate sent", &trusted, vec![&via_int, &int], t, "OK"),
        (
            "intermediate and root sent",
            &trusted,
            vec![&via_int, &int, &root],
            t,
            "OK",
        ),
        (
            "intermediate not sent",
            &trusted,
            vec![&via_int],
            t,
            x509::UNABLE_TO_VERIFY_LEAF_SIGNATURE,
        ),
        (
            "intermediate trusted, not its root",
            &partial,
            vec![&via_int, &int],
            t,
            x509::UNABLE_TO_GET_ISSUER_CERT,
        ),
        (
            "nothing trusted, intermediate sent",
            &none,
            vec![&via_int, &int],
            t,
            x509::UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
        ),
        (
            "nothing trusted, root sent",
            &none,
            vec![&via_int, &int, &root],
            t,
            x509::SELF_SIGNED_CERT_IN_CHAIN,
        ),
        (
            "nothing trusted, leaf alone",
            &none,
            vec![&leaf],
            t,
            x509::UNABLE_TO_VERIFY_LEAF_SIGNATURE,
        ),
        (
            "nothing trusted, leaf alone, expired",
            &none,
            vec![&leaf],
            later,
            x509::CERT_HAS_EXPIRED,
        ),
        (
            "extendedKeyUsage clientAuth",
            &trusted,
            vec![&client_only],
            t,
            x509::INVALID_PURPOSE,
        ),
        (
            "extendedKeyUsage clientAuth, untrusted",
            &none,
            vec![&client_only],
            t,
            x509::UNABLE_TO_VERIFY_LEAF_SIGNATURE,
        ),
        (
            "issuer not a CA",
            &trusted,
            vec![&under_not_ca, &not_ca],
            t,
            x509::INVALID_PURPOSE,
        ),
        (
            "issuer not a CA, untrusted",
            &none,
            vec![&under_not_ca, &not_ca],
            t,
            x509::INVALID_PURPOSE,
        ),
    ];
    let with_small = store(&[&small_root, &ss_1024]);
    let at_level = |chain: &[&Made], level| {
        let peer: Vec<Cert> = chain.iter().map(|m| m.parsed()).collect();
        verify_chain(&with_small, &peer, t, level).map_err(|r| (r.code, r.reason))
    };
    assert_eq!(at_level(&[&under_small], 1), Ok(()));
    assert_eq!(
        at_level(&[&under_small], 2),
        Err(("UNSPECIFIED".into(), x509::CA_KEY_TOO_SMALL.into()))
    );
    assert_eq!(
        at_level(&[&ss_1024], 2),
        Err(("UNSPECIFIED".into(), x509::EE_KEY_TOO_SMALL.into()))
    );
    assert_eq!(at_level(&[&ss_1024], 0), Ok(()));
    let mut wrong = Vec::new();
    for (name, s, chain, at, want) in cases {
        let got = code(s, chain, *at);
        if got != *want {
            wrong.push(format!("{name}: got {got}, want {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn names_as_node_checks_them() {
    let Some(dir) = tempdir() else { return };
    let d = &dir.0;
    let k = key(d, "ec:P-256");
    let root = cert(d, "/CN=Root", &key(d, "ec:P-256"), None, CA);
    let cn_only = cert(d, "/CN=localhost", &k, Some(&root), &[]).parsed();
    let ip_only = cert(
        d,
        "/CN=localhost",
        &k,
        Some(&root),
        &["subjectAltName = IP:127.0.0.1"],
    )
    .parsed();
    let dns = cert(
        d,
        "/CN=other",
        &k,
        Some(&root),
        &["subjectAltName = DNS:*.example.com, IP:::1"],
    )
    .parsed();
    let no_name = cert(d, "/O=nothing", &k, Some(&root), &[]).parsed();

    let ok = |h: &str, c: &Cert| name::check_server_identity(h, c).is_ok();
    assert!(
        ok("localhost", &cn_only),
        "CN is checked when there is no DNS SAN"
    );
    assert!(ok("LOCALHOST.", &cn_only));
    assert!(
        !ok("127.0.0.1", &cn_only),
        "an IP is never checked against the CN"
    );
    assert!(
        ok("localhost", &ip_only),
        "an IP SAN alone leaves the CN in force"
    );
    assert!(ok("127.0.0.1", &ip_only));
    assert!(ok("a.example.com", &dns));
    assert!(!ok("other", &dns), "with a DNS SAN the CN is not checked");
    assert!(ok("::1", &dns));
    assert!(ok("0:0:0:0:0:0:0:1", &dns));
    let e = name::check_server_identity("other", &dns).unwrap_err();
    assert_eq!(e.code, x509::ALTNAME_INVALID);
    assert_eq!(
        e.message,
        "Hostname/IP does not match certificate's altnames: Host: other. is not in the cert's altnames: DNS:*.example.com, IP Address:0:0:0:0:0:0:0:1"
    );
    assert_eq!(
        name::check_server_identity("10.0.0.1", &ip_only).unwrap_err().message,
        "Hostname/IP does not match certificate's altnames: IP: 10.0.0.1 is not in the cert's list: 127.0.0.1"
    );
    assert_eq!(
        name::check_server_identity("example.org", &cn_only).unwrap_err().message,
        "Hostname/IP does not match certificate's altnames: Host: example.org. is not cert's CN: localhost"
    );
    assert_eq!(
        name::check_server_identity("localhost", &no_name)
            .unwrap_err()
            .message,
        "Hostname/IP does not match certificate's altnames: Cert does not contain a DNS name"
    );
}

/// Signs `data` with openssl (`pss`: RSA-PSS with a digest-long salt) and verifies it here.
fn signed_by_openssl(d: &Path, key: &str, cert: &Made, pss: bool) -> bool {
    let data = path(d, "data.bin");
    let sig = path(d, "sig.bin");
    std::fs::write(&data, b"the handshake transcript").expect("data");
    let mut args = vec!["dgst", "-sha256", "-sign", key, "-out", &sig];
    if pss {
        args.extend([
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
        ]);
    }
    args.push(&data);
    assert!(openssl(&args));
    let signature = std::fs::read(&sig).expect("sig");
    let c = cert.parsed();
    let k = c.public_key.as_ref().expect("key");
    let scheme = if pss {
        tokio_rustls::rustls::SignatureScheme::RSA_PSS_SHA256
    } else {
        tokio_rustls::rustls::SignatureScheme::RSA_PKCS1_SHA256
    };
    let good = algorithms::verify_handshake(k, scheme, b"the handshake transcript", &signature);
    let bad = algorithms::verify_handshake(k, scheme, b"another transcript", &signature);
    good && !bad
}

#[test]
fn rsa_handshake_signatures_from_1024_bits() {
    let Some(dir) = tempdir() else { return };
    let d = &dir.0;
    for bits in ["1024", "1536", "2048"] {
        let k = key(d, &format!("rsa:{bits}"));
        let c = cert(d, "/CN=localhost", &k, None, &[]);
        assert!(signed_by_openssl(d, &k, &c, true), "PSS with RSA-{bits}");
        assert!(
            signed_by_openssl(d, &k, &c, false),
            "PKCS#1 with RSA-{bits}"
        );
    }
}

#[test]
fn trust_store_as_node_builds_it() {
    let Some(dir) = tempdir() else { return };
    let d = &dir.0;
    let a = cert(d, "/CN=A", &key(d, "ec:P-256"), None, CA);
    let b = cert(d, "/CN=B", &key(d, "ec:P-256"), None, CA);
    let extra = path(d, "extra.pem");
    std::fs::copy(&b.cert, &extra).expect("copy");
    let pem_a = std::fs::read(&a.cert).expect("a");
    // No ca: the defaults (here the compiled-in roots) and NODE_EXTRA_CA_CERTS.
    let defaults = super::trust_store(&TlsOptions {
        node_extra_ca_certs: Some(extra.clone()),
        ..TlsOptions::default()
    })
    .expect("store");
    assert!(defaults.len() > 100, "the Mozilla roots");
    // A ca replaces both.
    let only_a = super::trust_store(&TlsOptions {
        ca: Some(vec![pem_a.clone()]),
        node_extra_ca_certs: Some(extra),
        ..TlsOptions::default()
    })
    .expect("store");
    assert_eq!(only_a.len(), 1);
    // An empty ca trusts nothing at all, as in Node.
    let empty = super::trust_store(&TlsOptions {
        ca: Some(Vec::new()),
        ..TlsOptions::default()
    })
    .expect("store");
    assert!(empty.is_empty());
    // Node's own defaults when the JavaScript layer hands them over.
    let given = super::trust_store(&TlsOptions {
        default_ca: Some(vec![pem_a]),
        ..TlsOptions::default()
    })
    .expect("store");
    assert_eq!(given.len(), 1);
    // A ca that is no certificate is an error naming ca.
    let bad = super::trust_store(&TlsOptions {
        ca: Some(vec![
            b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".to_vec(),
        ]),
        ..TlsOptions::default()
    });
    assert!(bad.is_err_and(|e| e.description().starts_with("ca:")));
}

mod ncons;
mod signatures;
mod trust;
