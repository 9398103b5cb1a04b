//! `ca` in TRUSTED CERTIFICATE form (`openssl x509 -trustout`): the trust settings decide as in
//! OpenSSL (an anchor when trusted for TLS servers, even an intermediate; INVALID_PURPOSE when
//! rejected or trusted for other uses only). Node's verdicts for the same chains.

use super::*;
use crate::tls::pem;

fn trusted_pem(d: &Path, c: &Made, opts: &[&str]) -> Vec<u8> {
    let out = path(d, &format!("t{}.pem", N.fetch_add(1, Ordering::SeqCst)));
    let mut args = vec!["x509", "-in", &c.cert, "-trustout", "-out", &out];
    args.extend_from_slice(opts);
    assert!(openssl(&args));
    std::fs::read(&out).expect("trusted pem")
}

#[test]
fn trust_settings_as_openssl_reads_them() {
    let Some(dir) = tempdir() else { return };
    let d = &dir.0;
    let root = cert(d, "/O=t/CN=Root", &key(d, "ec:P-256"), None, CA);
    let int = cert(d, "/O=t/CN=Int", &key(d, "ec:P-256"), Some(&root), CA);
    let k = key(d, "ec:P-256");
    let leaf = cert(d, "/CN=localhost", &k, Some(&root), LEAF);
    let via_int = cert(d, "/CN=localhost", &k, Some(&int), LEAF);
    let t = now();
    let verdict = |pem_text: Vec<u8>, chain: &[&Made]| {
        let mut s = TrustStore::new();
        for c in pem::ca_certificates(&pem_text).expect("ca") {
            s.add(c);
        }
        code(&s, chain, t)
    };
    let server = ["-addtrust", "serverAuth"];
    assert_eq!(verdict(trusted_pem(d, &root, &server), &[&leaf]), "OK");
    assert_eq!(verdict(trusted_pem(d, &root, &[]), &[&leaf]), "OK");
    assert_eq!(
        verdict(
            trusted_pem(d, &root, &["-addreject", "serverAuth"]),
            &[&leaf]
        ),
        x509::INVALID_PURPOSE
    );
    assert_eq!(
        verdict(
            trusted_pem(d, &root, &["-addtrust", "emailProtection"]),
            &[&leaf]
        ),
        x509::INVALID_PURPOSE
    );
    // An intermediate trusted for TLS servers is an anchor of its own.
    assert_eq!(
        verdict(trusted_pem(d, &int, &server), &[&via_int, &int]),
        "OK"
    );
    assert_eq!(
        verdict(std::fs::read(&int.cert).expect("int"), &[&via_int, &int]),
        x509::UNABLE_TO_GET_ISSUER_CERT
    );
}
