//! Files out of a Debian package (`.deb`) fetched with `apt-get download` (no root needed):
//! the package is an `ar` archive whose `data.tar.xz` (or `.gz`) member holds the files under
//! their installed paths. Read with maintained crates (`ar`, `lzma-rs`, `flate2`, `tar`),
//! every size bounded.

use std::io::Read;
use std::path::Path;
use std::process::Command;

/// Largest decompressed size read from a package (the Fashion-MNIST package holds 31 MB).
const MAX_BYTES: u64 = 1 << 30;

/// The files `names` found directly in `dir` (an installed path such as
/// `/usr/share/datasets/fashion-mnist`) inside the package bytes `deb`, each as stored;
/// a name not in the package is absent from the result.
pub fn files_in_deb(deb: &[u8], dir: &str, names: &[String]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut archive = ar::Archive::new(deb);
    let mut data = None;
    while let Some(entry) = archive.next_entry() {
        let mut entry = entry.map_err(|e| format!("not a Debian package (ar archive: {e})"))?;
        let id = String::from_utf8_lossy(entry.header().identifier()).to_string();
        if id.starts_with("data.tar") {
            let mut bytes = Vec::new();
            (&mut entry).take(MAX_BYTES).read_to_end(&mut bytes).map_err(|e| format!("reading {id}: {e}"))?;
            data = Some((id, bytes));
            break;
        }
    }
    let (id, packed) = data.ok_or("the package has no data.tar member")?;
    let tar_bytes = match id.as_str() {
        "data.tar.xz" => {
            let mut out = Vec::new();
            lzma_rs::xz_decompress(&mut std::io::BufReader::new(packed.as_slice()), &mut out)
                .map_err(|e| format!("data.tar.xz: {e}"))?;
            out
        }
        "data.tar.gz" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(packed.as_slice())
                .take(MAX_BYTES)
                .read_to_end(&mut out)
                .map_err(|e| format!("data.tar.gz: {e}"))?;
            out
        }
        "data.tar" => packed,
        other => return Err(format!("package member {other} is compressed in a way this build does not read")),
    };
    let want = dir.trim_start_matches('/').trim_end_matches('/');
    let mut found = Vec::new();
    let mut tar = tar::Archive::new(tar_bytes.as_slice());
    for entry in tar.entries().map_err(|e| format!("data.tar: {e}"))? {
        let mut entry = entry.map_err(|e| format!("data.tar: {e}"))?;
        let path = entry.path().map_err(|e| format!("data.tar: {e}"))?.to_path_buf();
        let rel = path.strip_prefix(".").unwrap_or(&path);
        let (Some(parent), Some(file)) = (rel.parent(), rel.file_name().and_then(|f| f.to_str())) else { continue };
        if parent == Path::new(want) && names.iter().any(|n| n == file) {
            let mut bytes = Vec::new();
            (&mut entry).take(MAX_BYTES).read_to_end(&mut bytes).map_err(|e| format!("{}: {e}", rel.display()))?;
            found.push((file.to_string(), bytes));
        }
    }
    Ok(found)
}

/// Runs `apt-get download <package>` in a fresh temporary folder and returns the `.deb`'s
/// bytes.
pub fn apt_download(package: &str) -> Result<Vec<u8>, String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
    let out = Command::new("apt-get")
        .arg("download")
        .arg(package)
        .current_dir(tmp.path())
        .output()
        .map_err(|e| format!("apt-get: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("apt-get download {package} failed: {}", err.lines().last().unwrap_or("").trim()));
    }
    let deb = std::fs::read_dir(tmp.path())
        .map_err(|e| format!("{e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| format!("apt-get download {package} left no .deb file"))?;
    std::fs::read(&deb).map_err(|e| format!("{}: {e}", deb.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A package built here (ar, data.tar.xz) yields the files under the asked folder only;
    /// a truncated or foreign file is refused with a reason, never a panic.
    #[test]
    fn files_come_out_of_a_package_and_broken_ones_are_refused() {
        let mut tar_bytes = Vec::new();
        {
            let mut t = tar::Builder::new(&mut tar_bytes);
            for (path, body) in [
                ("./usr/share/datasets/x/a.gz", b"alpha".as_slice()),
                ("./usr/share/datasets/x/sub/b.gz", b"beta"),
                ("./usr/share/doc/x/a.gz", b"doc"),
            ] {
                let mut h = tar::Header::new_gnu();
                h.set_size(body.len() as u64);
                h.set_mode(0o644);
                h.set_cksum();
                t.append_data(&mut h, path, body).expect("tar entry");
            }
            t.finish().expect("tar");
        }
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut std::io::BufReader::new(tar_bytes.as_slice()), &mut xz).expect("xz");
        let mut deb = Vec::new();
        {
            let mut b = ar::Builder::new(&mut deb);
            for (name, body) in
                [("debian-binary", b"2.0\n".to_vec()), ("control.tar.xz", Vec::new()), ("data.tar.xz", xz)]
            {
                let h = ar::Header::new(name.as_bytes().to_vec(), body.len() as u64);
                b.append(&h, body.as_slice()).expect("ar member");
            }
        }
        let names = vec!["a.gz".to_string(), "b.gz".to_string()];
        let got = files_in_deb(&deb, "/usr/share/datasets/x", &names).expect("read");
        assert_eq!(got, vec![("a.gz".to_string(), b"alpha".to_vec())]);
        for broken in [&deb[..deb.len() / 2], b"not a package".as_slice(), &[]] {
            assert!(files_in_deb(broken, "/usr/share/datasets/x", &names).is_err());
        }
    }
}
