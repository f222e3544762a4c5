//! CA private keys in the PEM formats administrators have: PKCS#8 (`PRIVATE KEY`), SEC1
//! (`EC PRIVATE KEY`, what `openssl ecparam -genkey` writes, after an `EC PARAMETERS`
//! block) and PKCS#1 (`RSA PRIVATE KEY`, `openssl genrsa -traditional`).
//!
//! rcgen signs with ring, which reads PKCS#8 only, so SEC1 and PKCS#1 keys are wrapped in
//! a PKCS#8 `PrivateKeyInfo` (RFC 5208) naming their algorithm: the key bytes themselves
//! are untouched.

use rcgen::KeyPair;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use yasna::models::ObjectIdentifier;
use yasna::{ASN1Error, Tag};

/// `id-ecPublicKey` (RFC 5480).
const EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];
/// `rsaEncryption` (RFC 8017).
const RSA_ENCRYPTION: &[u64] = &[1, 2, 840, 113_549, 1, 1, 1];

/// Why a PEM private key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No private key block, or one that is not PEM.
    #[error(
        "no PEM private key found ({0}); give a PKCS#8 (`BEGIN PRIVATE KEY`), SEC1 (`BEGIN EC PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) key, unencrypted"
    )]
    NotPem(String),
    /// A SEC1 key that is not DER, or without its curve.
    #[error(
        "the `EC PRIVATE KEY` cannot be read ({0}); write it with its curve, e.g. `openssl ec -in key.pem -out key.pem`"
    )]
    Sec1(String),
    /// rcgen (ring) refuses the key: an unsupported curve or algorithm, or a broken key.
    #[error(
        "the private key is not usable for signing ({0}); use an ECDSA P-256 or P-384, Ed25519 or RSA key"
    )]
    Unsupported(#[source] rcgen::Error),
}

/// Reads the first private key of `pem` (other blocks, such as `EC PARAMETERS` or
/// certificates, are skipped) in any of the three formats.
pub fn key_pair_from_pem(pem: &str) -> Result<KeyPair, KeyError> {
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|error| KeyError::NotPem(error.to_string()))?;
    let pkcs8 = match key {
        PrivateKeyDer::Pkcs8(key) => key.secret_pkcs8_der().to_vec(),
        PrivateKeyDer::Sec1(key) => {
            let curve = sec1_curve(key.secret_sec1_der())?;
            wrap_pkcs8(EC_PUBLIC_KEY, Some(&curve), key.secret_sec1_der())
        }
        PrivateKeyDer::Pkcs1(key) => wrap_pkcs8(RSA_ENCRYPTION, None, key.secret_pkcs1_der()),
        _ => {
            return Err(KeyError::NotPem(
                "an unknown private key format".to_string(),
            ));
        }
    };
    KeyPair::try_from(&PrivatePkcs8KeyDer::from(pkcs8)).map_err(KeyError::Unsupported)
}

/// The named curve of a SEC1 `ECPrivateKey` (RFC 5915): its `parameters [0]`.
// The closures cannot be method paths: those are not general over the reader's lifetimes.
#[allow(clippy::redundant_closure_for_method_calls)]
fn sec1_curve(der: &[u8]) -> Result<ObjectIdentifier, KeyError> {
    let parsed = yasna::parse_der(der, |reader| {
        reader.read_sequence(|seq| {
            let version = seq.next().read_u8()?;
            if version != 1 {
                return Err(ASN1Error::new(yasna::ASN1ErrorKind::Invalid));
            }
            let _private_key = seq.next().read_bytes()?;
            let curve = seq.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_oid()))?;
            let _public_key = seq.read_optional(|r| r.read_der())?;
            Ok(curve)
        })
    });
    match parsed {
        Ok(Some(curve)) => Ok(curve),
        Ok(None) => Err(KeyError::Sec1("it does not name its curve".to_string())),
        Err(error) => Err(KeyError::Sec1(error.to_string())),
    }
}

/// A PKCS#8 `PrivateKeyInfo` (version 0) of `key` for `algorithm`, with the curve as its
/// parameter (EC) or NULL (RSA).
fn wrap_pkcs8(algorithm: &[u64], curve: Option<&ObjectIdentifier>, key: &[u8]) -> Vec<u8> {
    yasna::construct_der(|writer| {
        writer.write_sequence(|seq| {
            seq.next().write_u8(0);
            seq.next().write_sequence(|alg| {
                alg.next()
                    .write_oid(&ObjectIdentifier::from_slice(algorithm));
                match curve {
                    Some(curve) => alg.next().write_oid(curve),
                    None => alg.next().write_null(),
                }
            });
            seq.next().write_bytes(key);
        });
    })
}

#[cfg(test)]
mod tests {
    use rcgen::{PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_RSA_SHA256, PublicKeyData};

    use super::*;

    const SEC1_P256: &str = include_str!("../../tests/keys/ec-p256-sec1.key");
    const SEC1_P384: &str = include_str!("../../tests/keys/ec-p384-sec1.key");
    const PKCS1_RSA: &str = include_str!("../../tests/keys/rsa-2048-pkcs1.key");

    #[test]
    fn pkcs8_keys_read_as_before() {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let read = key_pair_from_pem(&key.serialize_pem()).unwrap();
        assert_eq!(
            read.subject_public_key_info(),
            key.subject_public_key_info()
        );
    }

    #[test]
    fn sec1_keys_with_their_parameters_block_read_as_ecdsa() {
        assert!(SEC1_P256.starts_with("-----BEGIN EC PARAMETERS-----"));
        let key = key_pair_from_pem(SEC1_P256).unwrap();
        assert_eq!(key.algorithm(), &PKCS_ECDSA_P256_SHA256);
        let key = key_pair_from_pem(SEC1_P384).unwrap();
        assert_eq!(key.algorithm(), &PKCS_ECDSA_P384_SHA384);
        // The wrapped key is the same key: PKCS#8 out, SEC1-derived key in.
        let again = key_pair_from_pem(&key.serialize_pem()).unwrap();
        assert_eq!(
            again.subject_public_key_info(),
            key.subject_public_key_info()
        );
    }

    #[test]
    fn pkcs1_rsa_keys_read_as_rsa() {
        assert!(PKCS1_RSA.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let key = key_pair_from_pem(PKCS1_RSA).unwrap();
        assert_eq!(key.algorithm(), &PKCS_RSA_SHA256);
    }

    #[test]
    fn garbage_and_broken_keys_say_what_is_accepted() {
        let err = key_pair_from_pem("hello").unwrap_err();
        assert!(
            err.to_string().contains("SEC1 (`BEGIN EC PRIVATE KEY`)"),
            "{err}"
        );
        let broken = "-----BEGIN EC PRIVATE KEY-----\nMAMCAQE=\n-----END EC PRIVATE KEY-----\n";
        let err = key_pair_from_pem(broken).unwrap_err();
        assert!(matches!(err, KeyError::Sec1(_)), "{err}");
    }
}
