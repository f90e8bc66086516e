//! The pack as written and read: a zip in which every file is hashed as it is
//! written, a manifest naming each file with its SHA-256, and the manifest's signature
//! as a signed note by the audit key. Nothing is held in memory but the bytes in
//! flight, so a pack of ten million events costs what one of ten does.

use moat_audit::checkpoint::{self, SigningKey, VerifierKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Seek, Write};
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

/// The manifest's path in the pack.
pub const MANIFEST: &str = "manifest.json";
/// Its signature, a signed note whose body is [`signed_body`].
pub const SIGNATURE: &str = "manifest.sig";
/// The first line of a manifest signature: a checkpoint's second line is a tree size,
/// so neither can be passed off as the other.
const NOTE_ORIGIN: &str = "moat evidence manifest";

/// One file of the pack as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// The body a manifest signature signs: its origin line and the manifest's SHA-256.
pub fn signed_body(manifest: &[u8]) -> String {
    format!("{NOTE_ORIGIN}\n{}\n", hex::encode(Sha256::digest(manifest)))
}

/// Checks a manifest's signature; the name of the key that signed it.
pub fn check_signature(
    manifest: &[u8],
    note: &str,
    keys: &[VerifierKey],
) -> Result<String, String> {
    let (body, signer) = checkpoint::open_note(note, keys).map_err(|e| e.to_string())?;
    if body != signed_body(manifest) {
        return Err("the signature is over another manifest".into());
    }
    Ok(signer)
}

/// Writes the pack's files one after another into a zip.
pub struct PackWriter<W: Write + Seek> {
    zip: ZipWriter<W>,
    files: Vec<Listed>,
}

fn options() -> SimpleFileOptions {
    // Level 1: the events are most of a pack and compress about 8:1 even so; the
    // higher levels cost several times the time for a few percent.
    SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1))
        .large_file(true)
}

fn zip_error(error: zip::result::ZipError) -> io::Error {
    io::Error::other(error)
}

impl<W: Write + Seek> PackWriter<W> {
    pub fn new(out: W) -> PackWriter<W> {
        PackWriter {
            zip: ZipWriter::new(out),
            files: Vec::new(),
        }
    }

    /// Files written so far.
    pub fn files_written(&self) -> usize {
        self.files.len()
    }

    /// A whole file at once.
    pub fn file(&mut self, path: &str, bytes: &[u8]) -> io::Result<()> {
        let mut entry = self.stream(path)?;
        entry.write_all(bytes)?;
        entry.done();
        Ok(())
    }

    /// A file written a piece at a time; [`Entry::done`] lists it.
    pub fn stream(&mut self, path: &str) -> io::Result<Entry<'_, W>> {
        if self.files.iter().any(|f| f.path == path) || path == MANIFEST || path == SIGNATURE {
            return Err(io::Error::other(format!("{path} is already in the pack")));
        }
        self.zip.start_file(path, options()).map_err(zip_error)?;
        Ok(Entry {
            path: path.to_string(),
            hasher: Sha256::new(),
            bytes: 0,
            pack: self,
        })
    }

    /// Copies a file already written elsewhere (a side file filled during the pass
    /// over the log) into the pack.
    pub fn copy(&mut self, path: &str, mut from: impl Read) -> io::Result<()> {
        let mut entry = self.stream(path)?;
        io::copy(&mut from, &mut entry)?;
        entry.done();
        Ok(())
    }

    /// Writes the manifest (`header` with the list of files added under `files`) and
    /// its signature, and closes the zip. Returns the manifest's SHA-256.
    pub fn finish(
        mut self,
        mut header: serde_json::Value,
        key: &SigningKey,
    ) -> io::Result<(W, String)> {
        header["files"] = serde_json::to_value(&self.files).map_err(io::Error::other)?;
        let manifest = serde_json::to_vec_pretty(&header).map_err(io::Error::other)?;
        let note = checkpoint::sign_note(&signed_body(&manifest), key);
        for (path, bytes) in [
            (MANIFEST, manifest.as_slice()),
            (SIGNATURE, note.as_bytes()),
        ] {
            self.zip.start_file(path, options()).map_err(zip_error)?;
            self.zip.write_all(bytes)?;
        }
        let out = self.zip.finish().map_err(zip_error)?;
        Ok((out, hex::encode(Sha256::digest(&manifest))))
    }
}

/// A file being written into the pack.
pub struct Entry<'a, W: Write + Seek> {
    path: String,
    hasher: Sha256,
    bytes: u64,
    pack: &'a mut PackWriter<W>,
}

impl<W: Write + Seek> Entry<'_, W> {
    /// Lists the file in the manifest with its hash and size.
    pub fn done(self) {
        self.pack.files.push(Listed {
            path: self.path,
            sha256: hex::encode(self.hasher.finalize()),
            bytes: self.bytes,
        });
    }
}

impl<W: Write + Seek> Write for Entry<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.pack.zip.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.pack.zip.flush()
    }
}
