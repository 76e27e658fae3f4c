//! A test CA made per run: a server certificate for `localhost` and `127.0.0.1`, one for
//! another name (`wrong.example`, same CA), and a second, unrelated CA for wrong-CA tests.

use anyhow::Result;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// PEM files in a temporary directory (removed on drop).
#[derive(Debug)]
pub struct TestCa {
    _dir: tempfile::TempDir,
    /// The CA certificate clients should trust.
    pub ca: PathBuf,
    /// Server certificate for localhost/127.0.0.1 followed by the CA certificate.
    pub chain: PathBuf,
    /// The server certificate's private key.
    pub key: PathBuf,
    /// Chain and key of a certificate for `wrong.example` from the same CA.
    pub wrong_name_chain: PathBuf,
    pub wrong_name_key: PathBuf,
    /// An unrelated CA that signed nothing used here.
    pub other_ca: PathBuf,
}

fn new_ca(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
}

fn leaf(names: &[&str], ca: &CertifiedIssuer<'static, KeyPair>) -> Result<(String, String)> {
    let mut params = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, ca)?;
    Ok((format!("{}{}", cert.pem(), ca.pem()), key.serialize_pem()))
}

impl TestCa {
    pub fn new() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        let ca = new_ca("SIM5360 Test CA")?;
        let other = new_ca("Unrelated Test CA")?;
        let (chain, key) = leaf(&["localhost", "127.0.0.1"], &ca)?;
        let (wchain, wkey) = leaf(&["wrong.example"], &ca)?;
        let write = |name: &str, text: &str| -> Result<PathBuf> {
            let p = d.join(name);
            std::fs::write(&p, text)?;
            Ok(p)
        };
        Ok(Self {
            ca: write("ca.pem", &ca.pem())?,
            chain: write("server-chain.pem", &chain)?,
            key: write("server.key", &key)?,
            wrong_name_chain: write("wrong-name-chain.pem", &wchain)?,
            wrong_name_key: write("wrong-name.key", &wkey)?,
            other_ca: write("other-ca.pem", &other.pem())?,
            _dir: dir,
        })
    }

    /// Copy the server chain and key into `dir` (as `server-chain.pem`, `server.key`).
    pub(crate) fn install(&self, dir: &Path) -> Result<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(dir)?;
        let (c, k) = (dir.join("server-chain.pem"), dir.join("server.key"));
        std::fs::copy(&self.chain, &c)?;
        std::fs::copy(&self.key, &k)?;
        Ok((c, k))
    }
}
