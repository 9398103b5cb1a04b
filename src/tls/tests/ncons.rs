//! Name constraints: chains made by openssl, the verdicts of Node (OpenSSL 3) for them.

use super::*;

#[test]
fn name_constraints_as_openssl_checks_them() {
    let Some(dir) = tempdir() else { return };
    let d = &dir.0;
    let k = key(d, "ec:P-256");
    let nc_root = |nc: &str| {
        let ext = [CA, &[nc]].concat();
        cert(d, "/O=t/CN=NC Root", &key(d, "ec:P-256"), None, &ext)
    };
    let leaf = |issuer: &Made, subject: &str, san: Option<&str>| {
        let mut ext = vec![
            "basicConstraints = CA:FALSE",
            "authorityKeyIdentifier = keyid",
        ];
        let line;
        if let Some(s) = san {
            line = format!("subjectAltName = {s}");
            ext.push(&line);
        }
        cert(d, subject, &k, Some(issuer), &ext)
    };
    let dns_root = nc_root("nameConstraints = critical, permitted;DNS:example.com");
    let excl_root = nc_root("nameConstraints = critical, excluded;DNS:localhost");
    let ip_root = nc_root(
        "nameConstraints = critical, permitted;IP:10.0.0.0/255.0.0.0, permitted;DNS:localhost",
    );
    let dir_root =
        nc_root("nameConstraints = critical, permitted;dirName:dir_sect\n[dir_sect]\nO = t");
    let plain_root = cert(d, "/O=t/CN=Plain Root", &key(d, "ec:P-256"), None, CA);
    let int_ext = [
        CA,
        &["nameConstraints = critical, permitted;DNS:corp.example"],
    ]
    .concat();
    let int = cert(
        d,
        "/O=t/CN=NC Int",
        &key(d, "ec:P-256"),
        Some(&plain_root),
        &int_ext,
    );

    let cases: Vec<(&str, Vec<Made>, &Made, &str)> = vec![
        (
            "permitted DNS, inside",
            vec![leaf(
                &dns_root,
                "/CN=a.example.com",
                Some("DNS:a.example.com"),
            )],
            &dns_root,
            "OK",
        ),
        (
            "permitted DNS, outside",
            vec![leaf(&dns_root, "/CN=localhost", Some("DNS:localhost"))],
            &dns_root,
            x509::PERMITTED_VIOLATION,
        ),
        (
            "permitted DNS, CN-only dotted outside",
            vec![leaf(&dns_root, "/CN=a.example.org", None)],
            &dns_root,
            x509::PERMITTED_VIOLATION,
        ),
        (
            "permitted DNS, CN-only single label",
            vec![leaf(&dns_root, "/CN=localhost", None)],
            &dns_root,
            "OK",
        ),
        (
            "permitted DNS, IP SAN only",
            vec![leaf(&dns_root, "/CN=x", Some("IP:127.0.0.1"))],
            &dns_root,
            "OK",
        ),
        (
            "excluded DNS",
            vec![leaf(&excl_root, "/CN=localhost", Some("DNS:localhost"))],
            &excl_root,
            x509::EXCLUDED_VIOLATION,
        ),
        (
            "permitted IP, outside",
            vec![leaf(
                &ip_root,
                "/CN=localhost",
                Some("DNS:localhost, IP:127.0.0.1"),
            )],
            &ip_root,
            x509::PERMITTED_VIOLATION,
        ),
        (
            "permitted IP, inside",
            vec![leaf(
                &ip_root,
                "/CN=localhost",
                Some("DNS:localhost, IP:10.1.2.3"),
            )],
            &ip_root,
            "OK",
        ),
        (
            "permitted dirName, inside",
            vec![leaf(&dir_root, "/O=t/CN=localhost", Some("DNS:localhost"))],
            &dir_root,
            "OK",
        ),
        (
            "permitted dirName, outside",
            vec![leaf(&dir_root, "/O=u/CN=localhost", Some("DNS:localhost"))],
            &dir_root,
            x509::PERMITTED_VIOLATION,
        ),
    ];
    let t = now();
    let mut wrong = Vec::new();
    for (name, chain, root, want) in &cases {
        let got = code(&store(&[root]), &chain.iter().collect::<Vec<_>>(), t);
        if got != *want && !(got == "UNSPECIFIED" && *want != "OK") {
            wrong.push(format!("{name}: got {got}, want {want}"));
        }
    }
    // The reasons, behind Node's UNSPECIFIED.
    let reason = |chain: &[&Made], root: &Made| {
        let peer: Vec<Cert> = chain.iter().map(|m| m.parsed()).collect();
        verify_chain(&store(&[root]), &peer, now(), 1).map_err(|r| (r.code, r.message))
    };
    let outside = leaf(&int, "/CN=localhost", Some("DNS:localhost"));
    assert_eq!(
        reason(&[&outside, &int], &plain_root),
        Err(("UNSPECIFIED".into(), "permitted subtree violation".into()))
    );
    let inside = leaf(&int, "/CN=a.corp.example", Some("DNS:a.corp.example"));
    assert_eq!(reason(&[&inside, &int], &plain_root), Ok(()));
    let excluded = leaf(&excl_root, "/CN=localhost", Some("DNS:localhost"));
    assert_eq!(
        reason(&[&excluded], &excl_root),
        Err(("UNSPECIFIED".into(), "excluded subtree violation".into()))
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
