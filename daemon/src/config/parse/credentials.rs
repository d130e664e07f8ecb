//! Public-key authentication in the configuration: the certificate, CA, public key
//! and CRL files of the `local`/`remote` sections, the private key files of
//! `[secrets.private-*]`, and the match between them (a connection signs with the
//! key whose public half is in its certificate, as strongSwan finds it).
//!
//! Relative paths are relative to the configuration file's directory. Files are read
//! when the configuration is loaded (at start, by `ikev2d check` and on SIGHUP);
//! private key files must not be accessible by group or others.

use ikev2::pki::{encoding, ids};

use super::*;

/// The `[secrets]` section prefixes that hold a private key file (swanctl's).
pub(super) const PRIVATE_KEY_PREFIXES: &[&str] = &["private", "rsa", "ecdsa", "pkcs8"];

impl Cx<'_> {
    /// The items of every file of `list` (paths relative to the configuration's
    /// directory), decoded by `decode` and paired with their file by `wrap`.
    fn credential_files<T, D, E: std::fmt::Display>(
        &mut self,
        path: &str,
        list: Option<&Vec<Sp<String>>>,
        what: &str,
        decode: impl Fn(&[u8]) -> Result<Vec<D>, E>,
        wrap: impl Fn(PathBuf, D) -> T,
    ) -> Vec<T> {
        let base = self.base_dir;
        self.string_list(path, list, |f| {
            let p = base.join(f);
            let bytes = std::fs::read(&p)
                .map_err(|e| format!("cannot read {what} {}: {e}", p.display()))?;
            let items = decode(&bytes).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok(items.into_iter().map(|d| wrap(p.clone(), d)).collect())
        })
        .unwrap_or_default()
    }

    /// Every certificate in the files of `list` (PEM bundles keep their order).
    pub(super) fn cert_files(
        &mut self,
        path: &str,
        list: Option<&Vec<Sp<String>>>,
    ) -> Vec<LoadedCert> {
        self.credential_files(
            path,
            list,
            "certificate",
            encoding::certificates,
            |path, cert| LoadedCert { path, cert },
        )
    }

    /// The raw public keys of `pubkeys`.
    pub(super) fn pubkey_files(
        &mut self,
        path: &str,
        list: Option<&Vec<Sp<String>>>,
    ) -> Vec<LoadedFile> {
        let one_key = |b: &[u8]| encoding::public_key(b).map(|(der, _)| vec![der]);
        self.credential_files(path, list, "public key", one_key, |path, der| LoadedFile {
            path,
            der,
        })
    }

    /// The CRLs of `crls`.
    pub(super) fn crl_files(
        &mut self,
        path: &str,
        list: Option<&Vec<Sp<String>>>,
    ) -> Vec<LoadedFile> {
        self.credential_files(path, list, "CRL", encoding::crls, |path, der| LoadedFile {
            path,
            der,
        })
    }

    /// The public-key keys of a `local`/`remote` section, checked against `auth`.
    pub(super) fn pubkey_auth(&mut self, path: &str, r: &RawAuth, a: &mut AuthSection) {
        let local = path.ends_with(".local");
        let key = |k: &str| format!("{path}.{k}");
        a.certs = self.cert_files(&key("certs"), r.certs.as_ref());
        a.cacerts = self.cert_files(&key("cacerts"), r.cacerts.as_ref());
        a.pubkeys = self.pubkey_files(&key("pubkeys"), r.pubkeys.as_ref());
        a.crls = self.crl_files(&key("crls"), r.crls.as_ref());
        if let Some(v) = self.word(
            &key("revocation"),
            r.revocation.as_ref(),
            &[
                ("strict", Revocation::Strict),
                ("ifuri", Revocation::IfUri),
                ("relaxed", Revocation::Relaxed),
            ],
        ) {
            a.revocation = v;
        }
        // Keys that belong to the other side.
        let misplaced: &[(&str, bool, &str)] = if local {
            &[
                (
                    "cacerts",
                    r.cacerts.is_some(),
                    "cacerts belongs in remote: the CAs we trust for the peer",
                ),
                (
                    "crls",
                    r.crls.is_some(),
                    "crls belongs in remote: they revoke the peer's certificates",
                ),
                (
                    "revocation",
                    r.revocation.is_some(),
                    "revocation belongs in remote",
                ),
            ]
        } else {
            &[(
                "certs",
                r.certs.is_some(),
                "remote.certs (pinning the peer's certificate) is not supported: give its CA in cacerts, or its public key in pubkeys",
            )]
        };
        for (k, _, why) in misplaced.iter().filter(|(_, set, _)| *set) {
            self.err_at(&key(k), *why);
        }
        let material = [
            ("certs", r.certs.is_some()),
            ("cacerts", r.cacerts.is_some()),
            ("pubkeys", r.pubkeys.is_some()),
        ];
        if a.auth == AuthMethod::Psk {
            if let Some((k, _)) = material.iter().find(|(_, set)| *set) {
                let explicit = r.auth.is_some();
                if explicit {
                    self.err_at(
                        &key(k),
                        format!("{k} needs auth = \"pubkey\" (this section has auth = \"psk\")"),
                    );
                } else {
                    // swanctl's default is pubkey: with certificates, that is what is meant.
                    a.auth = AuthMethod::Pubkey;
                }
            }
        }
        if a.auth != AuthMethod::Pubkey {
            return;
        }
        let at = if r.auth.is_some() {
            key("auth")
        } else {
            path.to_owned()
        };
        // What each side needs (a file that failed to load is reported already).
        let (given, needs) = if local {
            (
                r.certs.is_some() || r.pubkeys.is_some(),
                "auth = \"pubkey\" needs certs = [\"our certificate\"] or pubkeys = [\"our public key\"]",
            )
        } else {
            (
                r.cacerts.is_some() || r.pubkeys.is_some(),
                "auth = \"pubkey\" needs cacerts = [\"the peer's CA\"] or pubkeys = [\"the peer's public key\"] (strongSwan trusts every CA it loaded when cacerts is empty; ikev2d wants them named)",
            )
        };
        if !given {
            self.err_at(&at, needs);
        }
        if local {
            if let Some(ee) = a.certs.first() {
                if a.id.is_any() {
                    // strongSwan's default: the certificate's subject.
                    a.id = Identity::DerAsn1Dn(ee.cert.subject_der.clone());
                } else if let Err(e) = ids::check(&ee.cert, &a.id) {
                    self.err_at(
                        &key("id"),
                        format!(
                            "local.id {e} ({}): the peer would refuse it; use an ID the certificate carries",
                            ee.path.display()
                        ),
                    );
                }
            }
        }
    }

    /// `[secrets.private-<name>]`: `file = "path"` of an unencrypted private key.
    pub(super) fn private_key(
        &mut self,
        name: &Sp<String>,
        r: &BTreeMap<Sp<String>, Sp<toml::Value>>,
    ) -> Option<PrivateKeyFile> {
        let base = format!("secrets.{}", name.get_ref());
        self.at(&base, name);
        let mut file = None;
        for (k, v) in r {
            let path = format!("{base}.{}", k.get_ref());
            self.at(&path, k);
            match (k.get_ref().as_str(), v.get_ref()) {
                ("file", toml::Value::String(f)) => file = Some((v, f.clone())),
                ("secret", _) => self.err(
                    &path,
                    k,
                    "encrypted private keys are not supported: decrypt the key (openssl pkey -in KEY -out PLAIN, mode 600) and drop the passphrase",
                ),
                ("file", _) => self.err(&path, v, "file must be a string"),
                (other, _) => self.err(
                    &path,
                    k,
                    format!("unknown key `{other}` (a private key section takes file = \"path\")"),
                ),
            }
        }
        let Some((v, f)) = file else {
            self.err(
                &base,
                name,
                "no file: set file = \"path of the private key\"",
            );
            return None;
        };
        match read_private_key(&self.base_dir.join(&f)) {
            Ok((path, key)) => Some(PrivateKeyFile {
                name: name.get_ref().clone(),
                path,
                key: Arc::new(key),
            }),
            Err(m) => {
                self.err(&format!("{base}.file"), v, m);
                None
            }
        }
    }

    /// Each `local.auth = pubkey` connection gets its chain and the private key whose
    /// public half is its certificate's (or its raw public key).
    pub(super) fn local_credentials(
        &mut self,
        connections: &mut [Connection],
        keys: &[PrivateKeyFile],
    ) {
        for c in connections.iter_mut() {
            if c.local.auth != AuthMethod::Pubkey {
                continue;
            }
            let (spki, what, path) = match (c.local.certs.first(), c.local.pubkeys.first()) {
                (Some(ee), _) => (
                    ee.cert.spki.clone(),
                    format!("certificate {}", ee.cert.subject),
                    format!("connections.{}.local.certs", c.name),
                ),
                (None, Some(k)) => (
                    k.der.clone(),
                    format!("public key {}", k.path.display()),
                    format!("connections.{}.local.pubkeys", c.name),
                ),
                (None, None) => continue, // reported with the section
            };
            let Some(key) = keys.iter().find(|k| k.key.spki() == spki.as_slice()) else {
                self.err_at(
                    &path,
                    format!(
                        "no private key for our {what}: add [secrets.private-<name>] file = \"...\" (keys are matched to certificates by their public key)"
                    ),
                );
                continue;
            };
            // The end entity, then the intermediates; a self-signed root is never sent.
            let chain = c
                .local
                .certs
                .iter()
                .enumerate()
                .filter(|(i, l)| *i == 0 || !l.cert.is_self_signed_ca())
                .map(|(_, l)| l.cert.clone())
                .collect();
            c.credentials = Some(Arc::new(LocalCredentials {
                chain,
                key: Arc::clone(&key.key),
                rsa_pss: c.local.rsa_pss,
            }));
        }
    }
}

/// Reads a private key file, refusing one that group or others may read.
pub(crate) fn read_private_key(path: &Path) -> Result<(PathBuf, PrivateKey), String> {
    let bytes = read_owner_only(path, "private key")?;
    let key = encoding::private_key(&bytes)
        .map_err(|e| format!("private key {}: {e}", path.display()))?;
    Ok((path.to_owned(), key))
}
