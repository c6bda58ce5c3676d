//! Secrets at rest: the server's [`MasterKey`] (32 bytes from `PROMPTOPS_MASTER_KEY` or a file)
//! seals provider API keys with XChaCha20-Poly1305 before they reach the database. A sealed value
//! names the key that sealed it by fingerprint (a hash, never key bytes) and is bound to the row
//! it belongs to (tenant, project, connection id as associated data), so a ciphertext copied to
//! another row does not open. Owns sealing, opening and reading a key; storing rows is the store's.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::error::{Diagnostic, ErrorClass};
use crate::secret::SecretString;

/// The prefix of every sealed value (format version 1).
const SEALED_PREFIX: &str = "pmk1";
/// Bytes of an XChaCha20 nonce.
const NONCE_BYTES: usize = 24;

/// Why a master key or a sealed value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// No master key was configured.
    #[error("no master key is configured, so provider keys cannot be stored or read")]
    NoMasterKey,
    /// The configured text is not a 32-byte key.
    #[error("the master key is invalid: {0}")]
    InvalidKey(String),
    /// A sealed value was sealed by another master key.
    #[error("a stored key was sealed with master key `{found}`, but this server holds `{held}`")]
    WrongKey {
        /// Fingerprint in the sealed value.
        found: String,
        /// Fingerprint of the key held.
        held: String,
    },
    /// A sealed value is damaged, or belongs to another row.
    #[error("a stored key cannot be opened: it is damaged or was moved from another row")]
    Damaged,
}

impl Diagnostic for VaultError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Config
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Self::NoMasterKey | Self::InvalidKey(_) => vec![
                "set PROMPTOPS_MASTER_KEY (or PROMPTOPS_MASTER_KEY_FILE) to 32 random bytes, hex or base64: `openssl rand -hex 32`".to_owned(),
            ],
            Self::WrongKey { .. } => vec![
                "start the server with the master key that sealed the keys, or re-seal them with `promptops rotate-master-key`".to_owned(),
            ],
            Self::Damaged => vec!["set the provider's key again (`promptops provider set-key ID --remote R`)".to_owned()],
        }
    }
}

/// The 32-byte key that seals provider keys. Its `Debug` shows only the fingerprint.
#[derive(Clone)]
pub struct MasterKey {
    bytes: [u8; 32],
    fingerprint: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.fingerprint)
    }
}

impl MasterKey {
    /// Reads a key written as 64 hex characters or as base64 of 32 bytes.
    pub fn parse(text: &SecretString) -> Result<Self, VaultError> {
        let text = text.expose().trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|err| VaultError::InvalidKey(err.to_string()))?
        } else {
            STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text))
                .map_err(|_| VaultError::InvalidKey("it is neither 64 hex characters nor base64".to_owned()))?
        };
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| VaultError::InvalidKey(format!("it holds {} bytes, not 32", b.len())))?;
        Ok(Self::from_bytes(bytes))
    }

    /// A key from raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"promptops-master-key-fingerprint\n");
        hasher.update(bytes);
        let fingerprint = hex::encode(&hasher.finalize()[..8]);
        Self { bytes, fingerprint }
    }

    /// A fresh random key (tests, and `openssl rand -hex 32` for people).
    pub fn generate() -> Self {
        Self::from_bytes(XChaCha20Poly1305::generate_key(&mut OsRng).into())
    }

    /// The key as 64 hex characters, to hand to a server in tests.
    pub fn to_hex(&self) -> SecretString {
        SecretString::new(hex::encode(self.bytes))
    }

    /// The fingerprint stored with every value this key seals: 16 hex characters of a hash.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Seals `secret` for the row named by `binding`.
    pub fn seal(&self, secret: &SecretString, binding: &str) -> String {
        let cipher = XChaCha20Poly1305::new(&self.bytes.into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(&nonce, Payload { msg: secret.expose().as_bytes(), aad: binding.as_bytes() })
            .expect("invariant: encrypting a short message in memory cannot fail");
        let mut body = nonce.to_vec();
        body.extend(sealed);
        format!("{SEALED_PREFIX}.{}.{}", self.fingerprint, URL_SAFE_NO_PAD.encode(body))
    }

    /// Opens a value sealed for the row named by `binding`.
    pub fn open(&self, sealed: &str, binding: &str) -> Result<SecretString, VaultError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(SEALED_PREFIX), Some(found), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(VaultError::Damaged);
        };
        if found != self.fingerprint {
            return Err(VaultError::WrongKey { found: found.to_owned(), held: self.fingerprint.clone() });
        }
        let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| VaultError::Damaged)?;
        if body.len() <= NONCE_BYTES {
            return Err(VaultError::Damaged);
        }
        let (nonce, ciphertext) = body.split_at(NONCE_BYTES);
        let cipher = XChaCha20Poly1305::new(&self.bytes.into());
        let plain = cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: binding.as_bytes() })
            .map_err(|_| VaultError::Damaged)?;
        String::from_utf8(plain).map(SecretString::new).map_err(|_| VaultError::Damaged)
    }
}

/// The fingerprint a sealed value names, if it is one.
pub fn sealed_by(sealed: &str) -> Option<&str> {
    let mut parts = sealed.splitn(3, '.');
    (parts.next() == Some(SEALED_PREFIX)).then(|| parts.next()).flatten()
}

/// What a key looks like in listings: its last four characters (fewer for very short keys).
pub fn hint_of(secret: &SecretString) -> String {
    let chars: Vec<char> = secret.expose().chars().collect();
    let shown = if chars.len() >= 12 { 4 } else { chars.len() / 3 };
    format!("…{}", chars[chars.len() - shown..].iter().collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_with_its_master_key_and_row() {
        let key = MasterKey::generate();
        let secret = SecretString::new("sk-live-0123456789abcdef");
        let sealed = key.seal(&secret, "acme/web/fast");
        assert!(!sealed.contains("0123456789abcdef"));
        assert_eq!(key.open(&sealed, "acme/web/fast").expect("opens"), secret);
        assert_eq!(key.open(&sealed, "acme/web/other"), Err(VaultError::Damaged));
        let other = MasterKey::generate();
        assert!(matches!(other.open(&sealed, "acme/web/fast"), Err(VaultError::WrongKey { .. })));
        assert_eq!(sealed_by(&sealed), Some(key.fingerprint()));
    }

    #[test]
    fn master_keys_are_read_from_hex_or_base64_and_must_hold_32_bytes() {
        let key = MasterKey::generate();
        let from_hex = MasterKey::parse(&key.to_hex()).expect("hex");
        assert_eq!(from_hex.fingerprint(), key.fingerprint());
        let b64 = SecretString::new(STANDARD.encode(key.bytes));
        assert_eq!(MasterKey::parse(&b64).expect("base64").fingerprint(), key.fingerprint());
        assert!(matches!(MasterKey::parse(&SecretString::new("abcd")), Err(VaultError::InvalidKey(_))));
        assert!(!format!("{key:?}").contains(&hex::encode(key.bytes)));
    }

    #[test]
    fn tampered_values_are_refused() {
        let key = MasterKey::generate();
        let sealed = key.seal(&SecretString::new("sk-abc-123456"), "b");
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(key.open(&tampered, "b"), Err(VaultError::Damaged));
        assert_eq!(key.open("nonsense", "b"), Err(VaultError::Damaged));
    }

    #[test]
    fn hints_show_the_last_four_characters_only() {
        assert_eq!(hint_of(&SecretString::new("sk-live-0123456789abcdef")), "…cdef");
        assert_eq!(hint_of(&SecretString::new("short")), "…t");
    }
}
