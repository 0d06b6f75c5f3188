//! The node key: an ed25519 secret stored as 64 hex characters in one file.

use std::{
    fs,
    io::{ErrorKind, Write},
    path::Path,
};

use libp2p::identity::{ed25519, Keypair};

use crate::NetworkError;

/// Loads the ed25519 node key from `path`, or creates it (with its parent folders, mode 0600
/// on Unix) when the file does not exist. A file that exists but does not hold a key is an
/// error, never silently replaced: replacing it would change the node's identity.
pub fn load_or_create_node_key(path: &Path) -> Result<Keypair, NetworkError> {
    let io_err = |source| NetworkError::NodeKeyIo {
        path: path.to_path_buf(),
        source,
    };
    match fs::read(path) {
        Ok(contents) => parse(path, &contents),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let keypair = ed25519::Keypair::generate();
            let encoded = hex::encode(keypair.secret().as_ref());
            if let Some(parent) = path.parent() {
                if !parent.as_os_str().is_empty() {
                    fs::create_dir_all(parent).map_err(io_err)?;
                }
            }
            // Write to a temporary file, sync, then rename: a crash never leaves half a key.
            let tmp = path.with_extension("tmp");
            let mut options = fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&tmp).map_err(io_err)?;
            file.write_all(encoded.as_bytes()).map_err(io_err)?;
            file.write_all(b"\n").map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
            drop(file);
            fs::rename(&tmp, path).map_err(io_err)?;
            tracing::info!(path = %path.display(), "generated a new node key");
            Ok(Keypair::from(keypair))
        }
        Err(e) => Err(io_err(e)),
    }
}

fn parse(path: &Path, contents: &[u8]) -> Result<Keypair, NetworkError> {
    let corrupt = |reason: &str| NetworkError::CorruptNodeKey {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let text = std::str::from_utf8(contents).map_err(|_| corrupt("not text"))?;
    let mut secret = hex::decode(text.trim()).map_err(|_| corrupt("not hex"))?;
    if secret.len() != 32 {
        return Err(corrupt("expected 32 bytes (64 hex characters)"));
    }
    let secret =
        ed25519::SecretKey::try_from_bytes(&mut secret).map_err(|_| corrupt("invalid key"))?;
    Ok(Keypair::from(ed25519::Keypair::from(secret)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn created_then_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("network").join("secret_ed25519");
        let a = load_or_create_node_key(&path).unwrap();
        let b = load_or_create_node_key(&path).unwrap();
        assert_eq!(a.public().to_peer_id(), b.public().to_peer_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn corrupt_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        for contents in [&b"zz"[..], b"abcd", &[0xff, 0xfe][..], b""] {
            fs::write(&path, contents).unwrap();
            let err = load_or_create_node_key(&path).unwrap_err();
            assert!(matches!(err, NetworkError::CorruptNodeKey { .. }), "{err}");
        }
        // Never overwritten.
        assert_eq!(fs::read(&path).unwrap(), b"");
    }
}
