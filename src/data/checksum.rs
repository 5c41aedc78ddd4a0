//! SHA-256 hashing and verification of data files against their published hashes.

use sha2::{Digest, Sha256};

use super::error::DataError;

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Checks that `bytes` hash to `expected_hex` (case-insensitive); otherwise returns
/// [`DataError::ChecksumMismatch`] naming `file_label` and both hashes.
pub fn verify(file_label: &str, bytes: &[u8], expected_hex: &str) -> Result<(), DataError> {
    let found = sha256_hex(bytes);
    if found.eq_ignore_ascii_case(expected_hex.trim()) {
        Ok(())
    } else {
        Err(DataError::ChecksumMismatch {
            file: file_label.to_string(),
            expected: expected_hex.trim().to_ascii_lowercase(),
            found,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn mismatch_names_file_and_hashes() {
        let expected = sha256_hex(b"good");
        let err = verify("train-labels-idx1-ubyte", b"bad", &expected).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("train-labels-idx1-ubyte"), "{msg}");
        assert!(msg.contains(&expected), "{msg}");
        assert!(msg.contains(&sha256_hex(b"bad")), "{msg}");
        assert!(verify("x", b"good", &expected.to_uppercase()).is_ok());
    }
}
