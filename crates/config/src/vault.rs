//! The encrypted token vault: console API tokens sealed with XChaCha20-Poly1305 under a 32-byte
//! master key that never reaches the database.
//!
//! The master key comes from `S1BRIDGE_MASTER_KEY` (base64 of 32 bytes) or a key file (base64,
//! created with mode 0600 on first use). A sealed token carries the key's id (a SHA-256
//! fingerprint), a random 24-byte nonce and the ciphertext; the console name is authenticated
//! data, so a sealed token copied to another console does not open.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};

/// Environment variable holding the master key (base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "S1BRIDGE_MASTER_KEY";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "no master key: set {MASTER_KEY_ENV} (base64 of 32 bytes) or create the key file {} with `s1bridge token set`",
        .0.display()
    )]
    NoKey(PathBuf),
    #[error(
        "the master key in {source_name} is not base64 of 32 bytes; generate one with `head -c32 /dev/urandom | base64`"
    )]
    BadKey { source_name: String },
    #[error("the master key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error(
        "the token of console '{console}' was sealed with another master key (key id {stored}, this key is {current}); \
         set {MASTER_KEY_ENV} or the key file back to the original key, or store the token again with `s1bridge token set {console}`"
    )]
    WrongKey {
        console: String,
        stored: String,
        current: String,
    },
    #[error(
        "the sealed token of console '{console}' does not decrypt (it was altered, or sealed for another console); store it again with `s1bridge token set {console}`"
    )]
    Corrupt { console: String },
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

/// The 32-byte master key. Never printed.
pub struct MasterKey {
    key: SecretBox<[u8; 32]>,
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(id {})", self.id)
    }
}

/// The default key file: next to the default config (`~/.config/s1bridge/master.key`).
pub fn default_key_file() -> PathBuf {
    crate::default_path()
        .and_then(|p| p.parent().map(|d| d.join("master.key")))
        .unwrap_or_else(|| PathBuf::from("s1bridge-master.key"))
}

/// Fill `buf` with random bytes from the operating system.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), VaultError> {
    getrandom::fill(buf).map_err(|e| VaultError::Random(e.to_string()))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256 (API keys are stored as this).
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        let id =
            sha256_hex(&[b"s1bridge-master-key:".as_slice(), &bytes].concat())[..16].to_string();
        MasterKey {
            key: SecretBox::new(Box::new(bytes)),
            id,
        }
    }

    fn from_base64(text: &str, source_name: &str) -> Result<MasterKey, VaultError> {
        let bad = || VaultError::BadKey {
            source_name: source_name.to_string(),
        };
        let bytes = STANDARD.decode(text.trim()).map_err(|_| bad())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
        Ok(MasterKey::from_bytes(bytes))
    }

    /// The key from `env_value` (the value of `S1BRIDGE_MASTER_KEY`) when set, else from
    /// `file`. With `create`, a missing file is created (mode 0600, in a 0700 directory when it
    /// must be created) holding a fresh random key.
    pub fn load(
        env_value: Option<&str>,
        file: &Path,
        create: bool,
    ) -> Result<MasterKey, VaultError> {
        if let Some(v) = env_value.filter(|v| !v.trim().is_empty()) {
            return MasterKey::from_base64(v, MASTER_KEY_ENV);
        }
        let file_err = |reason: String| VaultError::KeyFile {
            path: file.display().to_string(),
            reason,
        };
        match std::fs::read_to_string(file) {
            Ok(text) => {
                check_private(file).map_err(file_err)?;
                MasterKey::from_base64(&text, &file.display().to_string())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let mut bytes = [0u8; 32];
                random_bytes(&mut bytes)?;
                write_private(file, &STANDARD.encode(bytes)).map_err(file_err)?;
                Ok(MasterKey::from_bytes(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(VaultError::NoKey(file.to_path_buf()))
            }
            Err(e) => Err(file_err(format!("cannot be read ({e})"))),
        }
    }

    /// The key's id (a fingerprint; safe to show and store).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.key.expose_secret().into())
    }

    /// Seal `token` for `console`: (nonce, ciphertext).
    pub fn seal(
        &self,
        console: &str,
        token: &SecretString,
    ) -> Result<(Vec<u8>, Vec<u8>), VaultError> {
        let mut nonce = [0u8; 24];
        random_bytes(&mut nonce)?;
        let aad = aad(console);
        let ct = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: token.expose_secret().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Random("encryption failed".into()))?;
        Ok((nonce.to_vec(), ct))
    }

    /// Open a token sealed by [`MasterKey::seal`] with `key_id`.
    pub fn open(
        &self,
        console: &str,
        key_id: &str,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<SecretString, VaultError> {
        if key_id != self.id {
            return Err(VaultError::WrongKey {
                console: console.to_string(),
                stored: key_id.to_string(),
                current: self.id.clone(),
            });
        }
        let corrupt = || VaultError::Corrupt {
            console: console.to_string(),
        };
        let nonce = XNonce::try_from(nonce).map_err(|_| corrupt())?;
        let aad = aad(console);
        let plain = self
            .cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| corrupt())?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| corrupt())
    }
}

fn aad(console: &str) -> Vec<u8> {
    format!("s1bridge-token:v1:{console}").into_bytes()
}

#[cfg(unix)]
fn check_private(file: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(file)
        .map_err(|e| e.to_string())?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "is readable by other users (mode {:o}); run `chmod 600 {}`",
            mode & 0o777,
            file.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_file: &Path) -> Result<(), String> {
    Ok(())
}

fn write_private(file: &Path, content: &str) -> Result<(), String> {
    use std::io::Write;
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)
            .map_err(|e| format!("cannot create {} ({e})", dir.display()))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(file)
        .map_err(|e| format!("cannot be created ({e})"))?;
    f.write_all(content.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .map_err(|e| format!("cannot be written ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_and_refuse_misuse() {
        let key = MasterKey::from_bytes([7; 32]);
        let token = SecretString::from("abcDEF123-token");
        let (nonce, ct) = key.seal("prod", &token).expect("seal");
        assert!(
            !ct.windows(6).any(|w| w == b"abcDEF"),
            "the ciphertext does not hold the token"
        );
        let back = key.open("prod", key.id(), &nonce, &ct).expect("open");
        assert_eq!(back.expose_secret(), "abcDEF123-token");

        // Another console's name (AAD) does not open it.
        assert!(matches!(
            key.open("staging", key.id(), &nonce, &ct),
            Err(VaultError::Corrupt { .. })
        ));
        // A flipped bit does not open it.
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert!(matches!(
            key.open("prod", key.id(), &nonce, &bad),
            Err(VaultError::Corrupt { .. })
        ));
        // Another key is a clear error naming both key ids, never garbage.
        let other = MasterKey::from_bytes([8; 32]);
        let err = other.open("prod", key.id(), &nonce, &ct).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(key.id()) && msg.contains(other.id()), "{msg}");
        assert!(msg.contains("S1BRIDGE_MASTER_KEY"), "{msg}");
        // Even with a forged key id, the wrong key fails authentication.
        assert!(matches!(
            other.open("prod", other.id(), &nonce, &ct),
            Err(VaultError::Corrupt { .. })
        ));
        // Two seals of the same token differ (random nonces).
        let (nonce2, ct2) = key.seal("prod", &token).expect("seal");
        assert_ne!((nonce, ct), (nonce2, ct2));
    }

    #[test]
    fn key_from_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub").join("master.key");
        assert!(matches!(
            MasterKey::load(None, &file, false),
            Err(VaultError::NoKey(_))
        ));
        let created = MasterKey::load(None, &file, true).expect("created on first use");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let again = MasterKey::load(None, &file, true).expect("read back");
        assert_eq!(created.id(), again.id());

        let env = STANDARD.encode([1u8; 32]);
        let from_env = MasterKey::load(Some(&env), &file, true).expect("env wins");
        assert_eq!(from_env.id(), MasterKey::from_bytes([1; 32]).id());
        assert!(matches!(
            MasterKey::load(Some("c2hvcnQ="), &file, true),
            Err(VaultError::BadKey { .. })
        ));

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = MasterKey::load(None, &file, false).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
        }
    }
}
