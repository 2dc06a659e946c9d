//! What each external tool must say about a downloaded file.
//!
//! Where a tool cannot do something at all, the check does not skip it: it proves that the
//! tool fails the same way on the equivalent file written by OpenSSL (see `Reference`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use cert_download::{ExportPolicy, PfxEncryption};
use serde_json::Value;

use super::fixtures::{
    Cert, Fixture, KeyKind, PyBatch, fixtures_dir, hex, hex_decode, openssl_certs, openssl_entries,
    pem_blocks, py_certs, py_job, py_ok,
};
use super::tools::{CERTTOOL, CERTUTIL, JAVA, JAVAC, KEYTOOL, OPENSSL, Output, PK12UTIL};

/// A password that is not the right one.
pub(crate) fn wrong(password: &str) -> String {
    format!("{password}-wrong")
}

/// openssl's `subject=` form to the RFC 4514 form of Java and Python (single-RDN names).
fn rfc4514(subject: &str) -> String {
    subject.replace(" = ", "=")
}

fn subjects(certs: &[Cert]) -> Vec<&str> {
    certs.iter().map(|c| c.subject.as_str()).collect()
}

fn ders(certs: &[Cert]) -> Vec<Vec<u8>> {
    certs.iter().map(|c| c.der.clone()).collect()
}

fn count_lines(text: &str, line: &str) -> usize {
    text.lines().filter(|l| l.trim() == line).count()
}

fn sha1(der: &[u8]) -> Vec<u8> {
    use sha1::{Digest, Sha1};
    Sha1::digest(der).to_vec()
}

/// `openssl pkey` normalization of a DER private key (PKCS#8 out).
fn openssl_normalize(der: Vec<u8>) -> Vec<u8> {
    OPENSSL
        .cmd()
        .args(["pkey", "-inform", "DER", "-outform", "DER"])
        .stdin(der)
        .ok()
        .stdout
}

/// JVM start-up flags that halve the cost of each Java run.
const JVM_FAST: [&str; 2] = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"];

/// Asserts the issuer links of the certificates of a file: each certificate's issuer is the
/// next one's subject (leaf first; root first, each subject is the next one's issuer), over
/// the `linked` certificates that form the chain.
pub(crate) fn assert_links(certs: &[Cert], linked: usize, root_first: bool, what: &str) {
    let mut ordered = certs.to_vec();
    if root_first {
        ordered.reverse();
    }
    for pair in ordered[..linked].windows(2) {
        assert_eq!(
            pair[0].issuer, pair[1].subject,
            "{what}: the issuer of {} is not the next certificate",
            pair[0].subject
        );
    }
}

// ---------------------------------------------------------------------------------------
// Reference files written by OpenSSL, for what a tool cannot do at all
// ---------------------------------------------------------------------------------------

/// The equivalent of one of our files, written by OpenSSL from the fixture.
pub(crate) enum Reference {
    /// `openssl pkcs8 -topk8` with PBES2/PBKDF2-HMAC-SHA256/AES-256-CBC: a DER key.
    Pkcs8,
    /// `openssl pkcs12 -export` in the given profile.
    Pfx(PfxEncryption),
}

impl Reference {
    fn write(&self, fixture: &Fixture, password: &str, scratch: &Path) -> PathBuf {
        let dir = fixtures_dir()
            .join("store")
            .join(fixture.record.id.to_string());
        let out = tempfile::Builder::new()
            .prefix("openssl-reference-")
            .tempfile_in(scratch)
            .expect("a reference file")
            .into_temp_path()
            .keep()
            .expect("keep the reference file");
        let cmd = match self {
            Reference::Pkcs8 => OPENSSL
                .cmd()
                .args([
                    "pkcs8",
                    "-topk8",
                    "-v2",
                    "aes-256-cbc",
                    "-v2prf",
                    "hmacWithSHA256",
                ])
                .args(["-outform", "DER", "-passout", "env:REF_PASS", "-in"])
                .arg(dir.join("key.pem")),
            Reference::Pfx(profile) => {
                let mut cmd = OPENSSL
                    .cmd()
                    .args(["pkcs12", "-export", "-passout", "env:REF_PASS", "-in"])
                    .arg(dir.join("cert.pem"))
                    .arg("-inkey")
                    .arg(dir.join("key.pem"));
                if *profile == PfxEncryption::TripleDesSha1 {
                    cmd = cmd.args(["-certpbe", "PBE-SHA1-3DES", "-keypbe", "PBE-SHA1-3DES"]);
                    cmd = cmd.args(["-macalg", "sha1"]);
                }
                cmd
            }
        };
        cmd.arg("-out").arg(&out).env("REF_PASS", password).ok();
        out
    }
}

/// Whether certtool's error message (`error loading file at --load-privkey: FILE: WHY`)
/// gives `why` as its reason, word for word.
fn certtool_says(stderr: &str, why: &str) -> bool {
    stderr.trim().ends_with(&format!(": {why}"))
}

// ---------------------------------------------------------------------------------------
// PFX
// ---------------------------------------------------------------------------------------

/// A downloaded PFX and everything it must contain.
pub(crate) struct PfxCase<'a> {
    pub(crate) fixture: &'a Fixture,
    pub(crate) path: PathBuf,
    pub(crate) password: String,
    pub(crate) profile: PfxEncryption,
    pub(crate) policy: ExportPolicy,
    /// The certificates in file order.
    pub(crate) certs: Vec<Cert>,
    /// The chain a verifier builds from the leaf (Java's certificate chain).
    pub(crate) linked: Vec<Cert>,
    pub(crate) friendly_name: String,
}

/// Runs every tool over every case, Python in one batch. Java runs with ASCII passwords
/// only (its PBES2 refuses others, as the contract says). Each keytool run starts a JVM, so
/// two of its checks run once per profile in the test run, on the first case that fits,
/// whichever test that is: the refusal of a wrong password, and that with a non-ASCII
/// password keytool fails on our file exactly when it fails on OpenSSL's.
pub(crate) fn check_pfx_cases(cases: &[PfxCase<'_>], scratch: &Path) {
    static WRONG_DONE: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];
    static NON_ASCII_DONE: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];
    let mut py = PyBatch::default();
    for case in cases {
        case.openssl();
        case.python(&mut py);
        case.certtool(scratch);
        case.nss(scratch);
        let profile = usize::from(case.profile != PfxEncryption::Aes256Sha256);
        if case.password.is_ascii() {
            case.keytool(!WRONG_DONE[profile].swap(true, Ordering::Relaxed));
        } else if !NON_ASCII_DONE[profile].swap(true, Ordering::Relaxed) {
            case.keytool_like_openssl(scratch);
        }
    }
    py.run();
}

fn keytool_list(path: &Path, password: &str) -> super::tools::Cmd {
    KEYTOOL
        .cmd()
        .args(JVM_FAST.map(|f| format!("-J{f}")))
        .args(["-list", "-v", "-storetype", "PKCS12", "-keystore"])
        .arg(path)
        .arg("-storepass")
        .secret_arg(password)
        .env("LC_ALL", "C.UTF-8")
}

impl PfxCase<'_> {
    fn what(&self) -> String {
        format!(
            "record {} pfx {} ({}, friendly name {:?}, {} certificates)",
            self.fixture.record.id,
            self.profile.as_str(),
            self.path.display(),
            self.friendly_name,
            self.certs.len()
        )
    }

    fn leaf_der(&self) -> &[u8] {
        &self.fixture.leaf().der
    }

    /// How `openssl pkcs12 -info` may print the friendlyName: as it is, or, for a name
    /// beyond ASCII, as OpenSSL 3.0 does (`OPENSSL_uni2asc`: the low byte of each UTF-16
    /// unit; 3.0 cannot show other names, later versions print UTF-8).
    fn openssl_friendly_names(&self) -> Vec<String> {
        let mut names = vec![self.friendly_name.clone()];
        if !self.friendly_name.is_ascii() {
            let low: Vec<u8> = self.friendly_name.encode_utf16().map(|u| u as u8).collect();
            names.push(String::from_utf8_lossy(&low).into_owned());
        }
        names
    }

    /// `openssl pkcs12 -info -nodes`, without `-legacy`: algorithms, bags, attributes,
    /// certificates and key; a wrong password is refused.
    fn openssl(&self) {
        let what = self.what();
        let info = |password: String| {
            OPENSSL
                .cmd()
                .args(["pkcs12", "-info", "-nodes", "-in"])
                .arg(&self.path)
                .args(["-passin", "env:P12_PASS"])
                .env("P12_PASS", password)
        };
        let out = info(self.password.clone()).ok();
        let text = out.all_text();
        let p = &self.policy;
        let expected: Vec<String> = match self.profile {
            PfxEncryption::Aes256Sha256 => {
                let pbes2 = format!(
                    "PBES2, PBKDF2, AES-256-CBC, Iteration {}, PRF hmacWithSHA256",
                    p.pbkdf2_iterations()
                );
                vec![
                    format!("MAC: sha256, Iteration {}", p.mac_iterations()),
                    format!("MAC length: 32, salt length: {}", p.mac_salt_len()),
                    format!("PKCS7 Encrypted data: {pbes2}"),
                    format!("Shrouded Keybag: {pbes2}"),
                ]
            }
            _ => {
                let pbe = format!(
                    "pbeWithSHA1And3-KeyTripleDES-CBC, Iteration {}",
                    p.legacy_iterations()
                );
                vec![
                    format!("MAC: sha1, Iteration {}", p.legacy_iterations()),
                    format!("MAC length: 20, salt length: {}", p.legacy_salt_len()),
                    format!("PKCS7 Encrypted data: {pbe}"),
                    format!("Shrouded Keybag: {pbe}"),
                ]
            }
        };
        for line in &expected {
            assert_eq!(
                count_lines(&text, line),
                1,
                "{what}: openssl -info lacks `{line}`:\n{text}"
            );
        }
        // The certificates in one encryptedData, the key in one plain data SafeContents.
        assert_eq!(count_lines(&text, "PKCS7 Data"), 1, "{what}:\n{text}");
        assert_eq!(
            count_lines(&text, "Certificate bag"),
            self.certs.len(),
            "{what}: certificate bags:\n{text}"
        );

        let entries = openssl_entries(&out.text());
        let certs: Vec<_> = entries
            .iter()
            .filter(|e| e.label == "CERTIFICATE")
            .collect();
        let keys: Vec<_> = entries
            .iter()
            .filter(|e| e.label == "PRIVATE KEY")
            .collect();
        let got: Vec<Cert> = certs.iter().map(|e| e.cert()).collect();
        assert_eq!(
            subjects(&got),
            subjects(&self.certs),
            "{what}: certificates (openssl)"
        );
        assert!(
            got == self.certs,
            "{what}: the certificates differ from the stored ones"
        );

        let key_id = hex(&self.fixture.local_key_id(), " ");
        let names = self.openssl_friendly_names();
        let bag_attrs = |e: &super::fixtures::Entry, who: &str| {
            let mut attrs = e.attr_names();
            attrs.retain(|n| *n != "subject" && *n != "issuer");
            attrs.sort_unstable();
            assert_eq!(
                attrs,
                ["friendlyName", "localKeyID"],
                "{what}: attributes of the {who}"
            );
            let name = e.attr("friendlyName").unwrap_or_default();
            assert!(
                names.iter().any(|n| n == name),
                "{what}: friendlyName of the {who} is {name:?}, not one of {names:?}"
            );
            assert_eq!(
                e.attr("localKeyID"),
                Some(key_id.as_str()),
                "{what}: localKeyID of the {who}"
            );
        };
        for cert in &certs {
            if cert.der == self.leaf_der() {
                bag_attrs(cert, "leaf");
            } else {
                let names: Vec<_> = cert
                    .attr_names()
                    .into_iter()
                    .filter(|n| *n != "subject" && *n != "issuer")
                    .collect();
                assert!(
                    names.is_empty(),
                    "{what}: issuer bag with attributes {names:?}"
                );
            }
        }
        assert_eq!(keys.len(), 1, "{what}: one private key");
        bag_attrs(keys[0], "key");
        assert!(
            openssl_normalize(keys[0].der.clone()) == self.fixture.key_der,
            "{what}: openssl's key is not the stored key"
        );

        // PFX version 3, and the MAC's iteration count written out (it is not 1).
        let asn1 = OPENSSL
            .cmd()
            .args(["asn1parse", "-inform", "DER", "-in"])
            .arg(&self.path)
            .ok()
            .text();
        let prims = asn1_prims(&asn1);
        assert_eq!(
            prims.first().map(|p| (p.0.as_str(), p.2.as_str())),
            Some(("INTEGER", "03")),
            "{what}: PFX version:\n{asn1}"
        );
        let mac_count = match self.profile {
            PfxEncryption::Aes256Sha256 => p.mac_iterations(),
            _ => p.legacy_iterations(),
        };
        assert_eq!(
            prims.last().map(|p| (p.0.as_str(), p.2.clone())),
            Some(("INTEGER", asn1_int(mac_count))),
            "{what}: MacData iterations:\n{asn1}"
        );

        let refused = info(wrong(&self.password)).fails_with(1, "Mac verify error");
        assert!(
            !refused.text().contains("PRIVATE KEY"),
            "{what}: key out with a wrong password"
        );
    }

    /// Python `cryptography`: `pkcs12.load_pkcs12` gives the key, the leaf with its friendly
    /// name and the chain; a wrong password is refused.
    fn python<'b>(&'b self, py: &mut PyBatch<'b>) {
        let password = Some(self.password.as_str());
        py.add(py_job("pfx", &self.path, password), move |result| {
            let what = self.what();
            let p = py_ok(result, &what);
            let fx = &self.fixture.py_key;
            assert_eq!(p["key"]["type"], fx["type"], "{what}: key type");
            assert_eq!(p["key"]["secret"], fx["secret"], "{what}: key numbers");
            assert_eq!(
                p["key"]["spki"], p["cert"]["spki"],
                "{what}: key and leaf differ"
            );
            let leaf = hex(self.leaf_der(), "").to_lowercase();
            assert_eq!(p["cert"]["der"], Value::from(leaf), "{what}: leaf");
            assert_eq!(
                p["cert"]["friendly_name"],
                Value::from(self.friendly_name.as_str()),
                "{what}: friendly name"
            );
            let additional: Vec<Vec<u8>> = p["additional"]
                .as_array()
                .expect("additional certs")
                .iter()
                .map(|c| {
                    assert!(
                        c["friendly_name"].is_null(),
                        "{what}: an issuer has a friendly name: {c}"
                    );
                    hex_decode(c["der"].as_str().expect("der"))
                })
                .collect();
            let issuers: Vec<Vec<u8>> = ders(&self.certs)
                .into_iter()
                .filter(|der| der != self.leaf_der())
                .collect();
            assert!(
                additional == issuers,
                "{what}: Python's additional certificates differ from the chain"
            );
        });
        let wrong = wrong(&self.password);
        py.add(py_job("pfx", &self.path, Some(&wrong)), move |result| {
            assert_eq!(
                result["ok"],
                Value::Bool(false),
                "{}: Python opened it with a wrong password",
                self.what()
            );
            let error = result["error"].as_str().unwrap_or_default();
            assert!(
                error.contains("Invalid password or PKCS12 data"),
                "{}: Python refused a wrong password for another reason: {error}",
                self.what()
            );
        });
    }

    /// GnuTLS `certtool --p12-info`: MAC, algorithms, bags and attributes, certificates;
    /// then GnuTLS decrypts the key bag it prints on its own.
    fn certtool(&self, scratch: &Path) {
        let what = self.what();
        let (out, blocks) = certtool_p12_info(&self.path, &self.password);
        let text = out.all_text();
        let p = &self.policy;
        // (MAC line, bag schema, [salt sizes], [iteration counts]) of the MAC, the
        // certificates' encryptedData and the key bag, in certtool's order.
        let (mac, schema, salts, counts) = match self.profile {
            PfxEncryption::Aes256Sha256 => (
                "MAC: SHA256 (2.16.840.1.101.3.4.2.1)",
                "Schema: PBES2-AES256-CBC (2.16.840.1.101.3.4.1.42)",
                [p.mac_salt_len(), p.pbkdf2_salt_len(), p.pbkdf2_salt_len()],
                [
                    p.mac_iterations(),
                    p.pbkdf2_iterations(),
                    p.pbkdf2_iterations(),
                ],
            ),
            _ => (
                "MAC: SHA1 (1.3.14.3.2.26)",
                "Schema: PKCS12-3DES-SHA1 (1.2.840.113549.1.12.1.3)",
                [p.legacy_salt_len(); 3],
                [p.legacy_iterations(); 3],
            ),
        };
        assert_eq!(
            count_lines(&text, mac),
            1,
            "{what}: certtool lacks `{mac}`:\n{text}"
        );
        let values = |name: &str| -> Vec<String> {
            text.lines()
                .filter_map(|l| l.trim().strip_prefix(name))
                .map(|v| v.trim().to_owned())
                .collect()
        };
        assert_eq!(
            values("Salt size:"),
            salts.map(|n| n.to_string()),
            "{what}: certtool's salt sizes (MAC, certificates, key):\n{text}"
        );
        assert_eq!(
            values("Iteration count:"),
            counts.map(|n| n.to_string()),
            "{what}: certtool's iteration counts (MAC, certificates, key):\n{text}"
        );
        assert_eq!(
            count_lines(&text, schema),
            2,
            "{what}: certtool `{schema}`:\n{text}"
        );
        assert_eq!(
            count_lines(&text, "Type: Certificate"),
            self.certs.len(),
            "{what}: certtool certificates:\n{text}"
        );
        assert_eq!(
            count_lines(&text, "Type: PKCS #8 Encrypted key"),
            1,
            "{what}:\n{text}"
        );
        let name = format!("Friendly name: {}", self.friendly_name);
        assert_eq!(
            count_lines(&text, &name),
            2,
            "{what}: certtool `{name}`:\n{text}"
        );
        let key_id = format!("Key ID: {}", hex(&self.fixture.local_key_id(), ":"));
        assert_eq!(
            count_lines(&text, &key_id),
            2,
            "{what}: certtool `{key_id}`:\n{text}"
        );
        let certs: Vec<Vec<u8>> = blocks
            .iter()
            .filter(|(label, _)| label == "CERTIFICATE")
            .map(|(_, der)| der.clone())
            .collect();
        assert!(
            certs == ders(&self.certs),
            "{what}: certtool's certificates differ"
        );

        let key_bag = self.path.with_extension("keybag.der");
        std::fs::write(&key_bag, certtool_key_bag(&blocks, &what)).expect("write the key bag");
        certtool_key(
            &key_bag,
            &self.password,
            self.fixture,
            Reference::Pfx(self.profile),
            scratch,
            &format!("{what}, key bag"),
        );
        CERTTOOL
            .cmd()
            .args(["--p12-info", "--inder", "--infile"])
            .arg(&self.path)
            .arg("--password")
            .secret_arg(wrong(&self.password))
            .fails_with(1, "The Message Authentication Code verification failed.");
    }

    /// NSS: `pk12util -l` lists it; `pk12util -i` imports key and certificates into a fresh
    /// database under the friendly name. NSS 3.87 cannot import Ed25519 keys at all: for
    /// those the import must fail as it does on OpenSSL's file.
    fn nss(&self, scratch: &Path) {
        let what = self.what();
        let list = |password: String| {
            PK12UTIL
                .cmd()
                .arg("-l")
                .arg(&self.path)
                .arg("-W")
                .secret_arg(password)
        };
        let text = list(self.password.clone()).ok().all_text();
        let counts = [
            ("Certificate(has private key):", 1),
            ("Certificate:", self.certs.len() - 1),
            ("Key(shrouded):", 1),
        ];
        for (line, n) in counts {
            assert_eq!(count_lines(&text, line), n, "{what}: NSS `{line}`:\n{text}");
        }
        let name = format!("Friendly Name: {}", self.friendly_name);
        assert_eq!(
            count_lines(&text, &name),
            2,
            "{what}: NSS `{name}`:\n{text}"
        );
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let fingerprints: Vec<&str> = lines
            .windows(2)
            .filter(|w| w[0] == "Fingerprint (SHA1):")
            .map(|w| w[1])
            .collect();
        let expected: Vec<String> = self.certs.iter().map(|c| hex(&sha1(&c.der), ":")).collect();
        assert_eq!(
            fingerprints, expected,
            "{what}: NSS certificate fingerprints"
        );
        list(wrong(&self.password)).fails_with(19, "SEC_ERROR_BAD_PASSWORD");

        let db = nss_db(scratch);
        let import = nss_import(&self.path, &self.password, &db);
        if self.fixture.record.key == KeyKind::Ed25519 && !import.status.success() {
            let reference =
                Reference::Pfx(self.profile).write(self.fixture, "reference-pw", scratch);
            let theirs = nss_import(&reference, "reference-pw", &nss_db(scratch));
            const ERR: &str = "SEC_ERROR_PKCS12_UNABLE_TO_IMPORT_KEY";
            assert!(
                import.all_text().contains(ERR)
                    && !theirs.status.success()
                    && theirs.all_text().contains(ERR),
                "{what}: NSS imports OpenSSL's Ed25519 PKCS#12 but not ours:\nours: {}\nOpenSSL's: {}",
                import.all_text(),
                theirs.all_text()
            );
            return;
        }
        assert!(
            import.status.success(),
            "{what}: NSS import failed:\n{}",
            import.all_text()
        );
        let keys = CERTUTIL.cmd().args(["-K", "-d"]).arg(&db).ok().all_text();
        let key_lines: Vec<&str> = keys.lines().filter(|l| l.starts_with('<')).collect();
        assert_eq!(key_lines.len(), 1, "{what}: NSS keys:\n{keys}");
        assert!(
            key_lines[0].ends_with(&self.friendly_name),
            "{what}: NSS key nickname:\n{keys}"
        );
        let certs = CERTUTIL.cmd().args(["-L", "-d"]).arg(&db).ok().text();
        let rows: Vec<&str> = certs
            .lines()
            .skip_while(|l| !l.contains("SSL,S/MIME,JAR/XPI"))
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            rows.len(),
            self.certs.len(),
            "{what}: NSS certificates:\n{certs}"
        );
        let leaf = format!("{} ", self.friendly_name);
        assert!(
            rows.iter()
                .any(|r| r.starts_with(&leaf) && r.trim_end().ends_with("u,u,u")),
            "{what}: NSS has no user certificate named {:?}:\n{certs}",
            self.friendly_name
        );
    }

    /// Java `keytool -list -v`: one PrivateKeyEntry under the (lowercased) friendly name with
    /// the chain built from the leaf.
    fn keytool(&self, check_wrong_password: bool) {
        let what = self.what();
        let text = keytool_list(&self.path, &self.password).ok().all_text();
        let expect = [
            "Your keystore contains 1 entry".to_owned(),
            format!("Alias name: {}", self.friendly_name.to_lowercase()),
            "Entry type: PrivateKeyEntry".to_owned(),
            format!("Certificate chain length: {}", self.linked.len()),
        ];
        for line in &expect {
            assert_eq!(
                count_lines(&text, line),
                1,
                "{what}: keytool lacks `{line}`:\n{text}"
            );
        }
        let owners: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("Owner: "))
            .collect();
        let linked: Vec<String> = self.linked.iter().map(|c| rfc4514(&c.subject)).collect();
        assert_eq!(owners, linked, "{what}: keytool's certificate chain");
        if check_wrong_password {
            let refused = keytool_list(&self.path, &wrong(&self.password))
                .fails_with(1, "password was incorrect")
                .all_text();
            assert!(
                refused.contains("password was incorrect"),
                "{what}: keytool: {refused}"
            );
        }
    }

    /// keytool with a non-ASCII password: JDK 17 refuses them (its `PBEKey` takes ASCII
    /// only), also on files written by OpenSSL; ours must fare exactly as OpenSSL's.
    fn keytool_like_openssl(&self, scratch: &Path) {
        let reference = Reference::Pfx(self.profile).write(self.fixture, &self.password, scratch);
        let ours = keytool_list(&self.path, &self.password).run();
        let theirs = keytool_list(&reference, &self.password).run();
        // keytool's verdict: success, or its exit status and `keytool error: ...` line (the
        // exception and its message), which must be the same for both files.
        let verdict = |out: &Output| -> Option<(Option<i32>, String)> {
            if out.status.success() {
                return None;
            }
            let text = out.all_text();
            let line = text.lines().find(|l| l.starts_with("keytool error: "));
            Some((
                out.status.code(),
                line.unwrap_or("(no `keytool error:` line)").to_owned(),
            ))
        };
        assert_eq!(
            verdict(&ours),
            verdict(&theirs),
            "{}: keytool with a non-ASCII password:\nours: {}\nOpenSSL's: {}",
            self.what(),
            ours.all_text(),
            theirs.all_text()
        );
        if ours.status.success() {
            self.keytool(false);
        }
    }
}

/// `certtool --p12-info` and the PEM blocks it prints (certificates, and the key bag as it
/// is stored, still encrypted).
fn certtool_p12_info(path: &Path, password: &str) -> (Output, Vec<(String, Vec<u8>)>) {
    let out = CERTTOOL
        .cmd()
        .args(["--p12-info", "--inder", "--infile"])
        .arg(path)
        .arg("--password")
        .secret_arg(password)
        .ok();
    let blocks = pem_blocks(&out.text());
    (out, blocks)
}

fn certtool_key_bag(blocks: &[(String, Vec<u8>)], what: &str) -> Vec<u8> {
    let keys: Vec<&Vec<u8>> = blocks
        .iter()
        .filter(|(label, _)| label == "ENCRYPTED PRIVATE KEY")
        .map(|(_, der)| der)
        .collect();
    assert_eq!(keys.len(), 1, "{what}: certtool's key bags");
    keys[0].clone()
}

/// A fresh, empty NSS database (`sql:` prefix included).
pub(crate) fn nss_db(scratch: &Path) -> PathBuf {
    let dir = tempfile::Builder::new()
        .prefix("nssdb-")
        .tempdir_in(scratch)
        .expect("an NSS database directory")
        .keep();
    let db = PathBuf::from(format!("sql:{}", dir.display()));
    CERTUTIL
        .cmd()
        .arg("-N")
        .arg("-d")
        .arg(&db)
        .arg("--empty-password")
        .ok();
    db
}

pub(crate) fn nss_import(file: &Path, password: &str, db: &Path) -> Output {
    PK12UTIL
        .cmd()
        .arg("-i")
        .arg(file)
        .arg("-d")
        .arg(db)
        .arg("-W")
        .secret_arg(password)
        .args(["-K", ""])
        .run()
}

// ---------------------------------------------------------------------------------------
// Encrypted private keys (pem and crt)
// ---------------------------------------------------------------------------------------

/// The primitive items of an `asn1parse` listing: (type, length, value).
fn asn1_prims(text: &str) -> Vec<(String, usize, String)> {
    text.lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once("prim: ")?;
            let len = line.split_once(" l=")?.1.trim_start();
            let len: usize = len.split_whitespace().next()?.parse().ok()?;
            let (kind, value) = rest.split_once(':').unwrap_or((rest, ""));
            let kind = kind.trim().trim_end_matches("[HEX DUMP]").trim().to_owned();
            Some((kind, len, value.trim().to_owned()))
        })
        .collect()
}

/// How `asn1parse` prints a positive INTEGER: uppercase hex, an even number of digits.
fn asn1_int(n: u32) -> String {
    let hex = format!("{n:X}");
    if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex
    }
}

/// `openssl asn1parse` of a DER EncryptedPrivateKeyInfo: PBES2 with PBKDF2, the PRF
/// hmacWithSHA256 written out, AES-256-CBC, a 16-byte salt and IV, the policy's count; no
/// scrypt.
pub(crate) fn openssl_key_algorithm(der_file: &Path, iterations: u32, what: &str) {
    let text = OPENSSL
        .cmd()
        .args(["asn1parse", "-inform", "DER", "-in"])
        .arg(der_file)
        .ok()
        .text();
    let prims = asn1_prims(&text);
    let of = |kind: &str| -> Vec<(usize, String)> {
        prims
            .iter()
            .filter(|p| p.0 == kind)
            .map(|p| (p.1, p.2.clone()))
            .collect()
    };
    let objects: Vec<String> = of("OBJECT").into_iter().map(|(_, v)| v).collect();
    assert_eq!(
        objects,
        ["PBES2", "PBKDF2", "hmacWithSHA256", "aes-256-cbc"],
        "{what}: the key's algorithms:\n{text}"
    );
    assert!(
        !text.to_lowercase().contains("scrypt"),
        "{what}: scrypt:\n{text}"
    );
    let ints = of("INTEGER");
    assert_eq!(
        ints.first().map(|(_, v)| v.clone()),
        Some(asn1_int(iterations)),
        "{what}: iteration count:\n{text}"
    );
    let octets: Vec<usize> = of("OCTET STRING").into_iter().map(|(l, _)| l).collect();
    assert_eq!(octets.len(), 3, "{what}: salt, IV, ciphertext:\n{text}");
    assert_eq!(
        &octets[..2],
        [16, 16],
        "{what}: salt and IV lengths:\n{text}"
    );
}

/// `openssl pkey` decrypts the key (DER EncryptedPrivateKeyInfo, or a PEM file holding one
/// among certificates) to the stored key, and refuses a wrong password.
pub(crate) fn openssl_key(file: &Path, der: bool, password: &str, fixture: &Fixture, what: &str) {
    let run = |password: String| {
        let mut cmd = OPENSSL.cmd().arg("pkey");
        if der {
            cmd = cmd.args(["-inform", "DER"]);
        }
        cmd.arg("-in")
            .arg(file)
            .args(["-passin", "env:KEY_PASS", "-outform", "DER"])
            .env("KEY_PASS", password)
    };
    let out = run(password.to_owned()).ok();
    assert!(
        out.stdout == fixture.key_der,
        "{what}: openssl's key is not the stored key"
    );
    // openssl's refusal of the key: usually "bad decrypt"; when the wrong key happens to
    // leave a valid padding (about 1 in 256), the decoder's "unsupported" instead.
    run(wrong(password)).fails_with(1, "Could not read key from");
}

/// The record whose stored EC key has no public key (tests/fixtures/README.md).
const EC_KEY_WITHOUT_PUBLIC_KEY: u64 = 14;

/// Why GnuTLS 3.7 cannot load a key, whoever wrote it, and what it then says; `None` for a
/// key it must load.
///
/// - An EC key without the optional public key (record 14): "Decryption has failed.".
/// - A key bag of the 3DES profile under a non-ASCII password of 256 UTF-8 bytes or more
///   (64 emoji, 128 "ü"): it derives the wrong key and reports "ASN1 parser: Error in TAG.".
fn gnutls_limit(fixture: &Fixture, reference: &Reference, password: &str) -> Option<&'static str> {
    if fixture.record.id == EC_KEY_WITHOUT_PUBLIC_KEY {
        return Some("Decryption has failed.");
    }
    let long_non_ascii = !password.is_ascii() && password.len() >= 256;
    if matches!(reference, Reference::Pfx(PfxEncryption::TripleDesSha1)) && long_non_ascii {
        return Some("ASN1 parser: Error in TAG.");
    }
    None
}

/// GnuTLS `certtool --pubkey-info --load-privkey` decrypts a DER encrypted PKCS#8 key (a
/// download's, or a PFX key bag); its public key is the stored one; a wrong password is
/// refused with GnuTLS' "Decryption has failed.".
///
/// GnuTLS 3.7 cannot load some keys at all, whoever wrote them (`gnutls_limit`): only
/// there is a failure accepted, with the very message of that limit, and only when GnuTLS
/// fails with that same message on the `reference` file OpenSSL writes from the fixture
/// with the same password. Anywhere else, and with any other message, a failure fails.
pub(crate) fn certtool_key(
    der_file: &Path,
    password: &str,
    fixture: &Fixture,
    reference: Reference,
    scratch: &Path,
    what: &str,
) {
    let public = der_file.with_extension("pub.der");
    let run = |file: &Path, password: String| {
        CERTTOOL
            .cmd()
            .args(["--pubkey-info", "--inder", "--outder", "--load-privkey"])
            .arg(file)
            .arg("--password")
            .secret_arg(password)
            .arg("--outfile")
            .arg(&public)
            .run()
    };
    let out = run(der_file, password.to_owned());
    if out.status.success() {
        let got = std::fs::read(&public).expect("certtool's public key");
        assert!(
            got == fixture.public_der,
            "{what}: certtool's public key is not the stored one"
        );
    } else {
        let ours = out.stderr.clone();
        let Some(limit) = gnutls_limit(fixture, &reference, password) else {
            panic!("{what}: GnuTLS cannot load our key: {ours}");
        };
        assert!(
            certtool_says(&ours, limit),
            "{what}: GnuTLS fails on our key, not with `{limit}` as its known limit does: {ours}"
        );
        let mut theirs = reference.write(fixture, password, scratch);
        if let Reference::Pfx(_) = reference {
            let (_, blocks) = certtool_p12_info(&theirs, password);
            theirs = theirs.with_extension("keybag.der");
            std::fs::write(&theirs, certtool_key_bag(&blocks, what)).expect("write");
        }
        let theirs = run(&theirs, password.to_owned());
        assert!(
            !theirs.status.success() && certtool_says(&theirs.stderr, limit),
            "{what}: GnuTLS cannot load our key but loads OpenSSL's, or fails otherwise on it:\n\
             ours: {ours}\nOpenSSL's: {}",
            theirs.stderr
        );
    }
    // A wrong password: GnuTLS' decryption failure, or where a limit applies, its message.
    let wrong_password = wrong(password);
    let expected = gnutls_limit(fixture, &reference, &wrong_password);
    let refused = run(der_file, wrong_password);
    assert!(
        !refused.status.success()
            && (certtool_says(&refused.stderr, "Decryption has failed.")
                || expected.is_some_and(|why| certtool_says(&refused.stderr, why))),
        "{what}: certtool with a wrong password: {}",
        refused.stderr
    );
}

/// The class directory of tests/interop/DecryptKey.java, compiled once per test run.
fn java_classes() -> &'static Path {
    static CLASSES: OnceLock<PathBuf> = OnceLock::new();
    CLASSES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-java");
        std::fs::create_dir_all(&dir).expect("a directory for Java classes");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/DecryptKey.java");
        JAVAC.cmd().arg("-d").arg(&dir).arg(source).ok();
        dir
    })
}

/// Java: `EncryptedPrivateKeyInfo` + the JDK's PBES2 cipher decrypt every file to the stored
/// key (ASCII passwords only: Java's PBES2 refuses others); a wrong password fails them all.
pub(crate) fn java_keys(files: &[PathBuf], password: &str, fixture: &Fixture, what: &str) {
    let out = JAVA
        .cmd()
        .args(JVM_FAST)
        .arg("-cp")
        .arg(java_classes())
        .arg("DecryptKey")
        .args(files)
        .env("KEY_PASS", password)
        .env("WRONG_PASS", wrong(password))
        .ok();
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        2 * files.len(),
        "{what}: Java's report:\n{}",
        out.all_text()
    );
    for (pair, file) in lines.chunks(2).zip(files) {
        let fields: Vec<&str> = pair[0].split(' ').collect();
        assert!(
            fields.len() == 4 && fields[0] == "OK",
            "{what}: Java cannot decrypt {}: {}",
            file.display(),
            pair[0]
        );
        assert_eq!(
            fields[1], "PBEWithHmacSHA256AndAES_256",
            "{what}: Java's PBE scheme"
        );
        assert_eq!(
            fields[2],
            fixture.record.key.java_name(),
            "{what}: Java's key type"
        );
        assert!(
            openssl_normalize(hex_decode(fields[3])) == fixture.key_der,
            "{what}: Java's key ({}) is not the stored key",
            file.display()
        );
        assert!(
            pair[1].starts_with("ERR "),
            "{what}: Java decrypted {} with a wrong password: {}",
            file.display(),
            pair[1]
        );
    }
}

/// The certificates of a pem download, as openssl and Python read them, in order, with the
/// issuer links, and the blocks in the contract's order.
pub(crate) fn pem_certs(
    pem: &Path,
    expected: &[Cert],
    linked: usize,
    root_first: bool,
    key: bool,
    what: &str,
    py: &mut PyBatch<'_>,
) {
    let text = std::fs::read_to_string(pem).expect("the pem file");
    let labels: Vec<String> = pem_blocks(&text).into_iter().map(|(l, _)| l).collect();
    let mut want = vec!["CERTIFICATE".to_owned(); expected.len()];
    if key {
        want.push("ENCRYPTED PRIVATE KEY".to_owned());
    }
    assert_eq!(labels, want, "{what}: PEM blocks");

    let got = openssl_certs(&[pem]);
    assert_eq!(
        subjects(&got),
        subjects(expected),
        "{what}: certificates (openssl)"
    );
    assert!(
        got == expected,
        "{what}: the certificates differ from the stored ones"
    );
    assert_links(&got, linked, root_first, what);

    let (expected, what) = (expected.to_vec(), what.to_owned());
    py.add(py_job("pem_certs", pem, None), move |result| {
        let certs = py_certs(py_ok(result, &what));
        assert!(
            ders(&certs) == ders(&expected),
            "{what}: Python's certificates differ"
        );
        assert_links(&certs, linked, root_first, &format!("{what} (Python)"));
    });
}
