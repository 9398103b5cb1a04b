//! Signatures Node's OpenSSL verifies and ring does not: P-521, ECDSA with any SHA-2 or SHA-3
//! digest on any NIST curve, RSA with SHA-3, keys restricted to RSA-PSS; Ed448 said to be beyond
//! this package rather than called a bad signature.

use super::*;
use tokio_rustls::rustls::SignatureScheme;

/// A certificate signed with `md` (any digest openssl knows) by `issuer`.
fn signed_with(d: &Path, subject: &str, key: &str, issuer: &Made, md: &str, ext: &[&str]) -> Made {
    let id = N.fetch_add(1, Ordering::SeqCst);
    let csr = path(d, &format!("a{id}.csr"));
    let out = path(d, &format!("a{id}.pem"));
    let extf = path(d, &format!("a{id}.cnf"));
    std::fs::write(&extf, format!("[x]\n{}\n", ext.join("\n"))).expect("ext");
    assert!(openssl(&[
        "req", "-new", "-key", key, "-subj", subject, "-out", &csr
    ]));
    let serial = format!("{}", id + 1000);
    let mut args = vec![
        "x509",
        "-req",
        "-in",
        &csr,
        "-out",
        &out,
        "-days",
        "30",
        "-CA",
        &issuer.cert,
        "-CAkey",
        &issuer.key,
        "-set_serial",
        &serial,
        "-extfile",
        &extf,
        "-extensions",
        "x",
    ];
    if !md.is_empty() {
        args.push(md);
    }
    assert!(openssl(&args), "x509 {md}");
    Made {
        key: key.to_string(),
        cert: out,
    }
}

#[test]
fn chains_signed_beyond_ring() {
    let Some(dir) = tempdir() else { return };
    let d = &dir.0;
    let k = key(d, "ec:P-256");
    let roots = [
        ("P-521", key(d, "ec:P-521")),
        ("P-256", key(d, "ec:P-256")),
        ("RSA", key(d, "rsa:2048")),
        ("RSA-PSS", key(d, "RSA-PSS")),
        ("Ed448", key(d, "ED448")),
    ];
    let mut wrong = Vec::new();
    for (name, rk) in &roots {
        let root = cert(d, &format!("/O=t/CN={name} Root"), rk, None, CA);
        let digests: &[(&str, &str)] = match *name {
            "P-521" => &[("-sha512", "OK"), ("-sha256", "OK"), ("-sha3-384", "OK")],
            "P-256" => &[("-sha512", "OK"), ("-sha224", "OK"), ("-sha3-256", "OK")],
            "RSA" => &[("-sha3-256", "OK"), ("-sha224", "OK")],
            "RSA-PSS" => &[("", "OK")],
            _ => &[("", x509::UNSUPPORTED_ALGORITHM)],
        };
        for (md, want) in digests {
            let leaf = signed_with(d, "/CN=localhost", &k, &root, md, LEAF);
            let got = code(&store(&[&root]), &[&leaf], now());
            if got != *want {
                wrong.push(format!("{name} root, {md}: got {got}, want {want}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `data` signed by openssl with `key` and `digest`, verified here under `scheme`.
fn handshake(
    d: &Path,
    key_spec: &str,
    digest: &str,
    extra: &[&str],
    scheme: SignatureScheme,
) -> bool {
    let k = key(d, key_spec);
    let c = cert(d, "/CN=localhost", &k, None, &[]);
    let data = path(d, "hs.bin");
    let sig = path(d, "hs.sig");
    std::fs::write(&data, b"transcript").expect("data");
    let mut args = vec!["dgst", digest, "-sign", &k, "-out", &sig];
    args.extend_from_slice(extra);
    args.push(&data);
    assert!(openssl(&args));
    let signature = std::fs::read(&sig).expect("sig");
    let parsed = c.parsed();
    let pk = parsed.public_key.as_ref().expect("key");
    algorithms::verify_handshake(pk, scheme, b"transcript", &signature)
        && !algorithms::verify_handshake(pk, scheme, b"other", &signature)
}

#[test]
fn handshake_signatures_beyond_ring() {
    let Some(dir) = tempdir() else { return };
    let d = &dir.0;
    assert!(handshake(
        d,
        "ec:P-521",
        "-sha512",
        &[],
        SignatureScheme::ECDSA_NISTP521_SHA512
    ));
    assert!(handshake(
        d,
        "ec:P-256",
        "-sha512",
        &[],
        SignatureScheme::ECDSA_NISTP521_SHA512
    ));
    assert!(handshake(
        d,
        "ec:P-521",
        "-sha256",
        &[],
        SignatureScheme::ECDSA_NISTP256_SHA256
    ));
    let pss = [
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:digest",
    ];
    assert!(handshake(
        d,
        "RSA-PSS",
        "-sha256",
        &pss,
        SignatureScheme::Unknown(0x0809)
    ));
    assert!(!handshake(
        d,
        "RSA-PSS",
        "-sha256",
        &pss,
        SignatureScheme::RSA_PSS_SHA256
    ));
}
