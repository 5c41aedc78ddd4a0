//! HTTP(S) download of one gzipped IDX file from a mirror, with timeouts and SHA-256 verification.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use super::checksum::verify;
use super::dataset::FileSpec;
use super::error::DataError;
use super::idx::decompress_if_gzip;

/// Largest compressed download accepted (the largest MNIST-family `.gz` is about 26 MB).
pub const MAX_DOWNLOAD: u64 = 256 * 1024 * 1024;
/// Socket read (and write) timeout for downloads.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP agent with the given connect timeout and [`READ_TIMEOUT`].
pub fn agent(connect_timeout: Duration) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(connect_timeout)
        .timeout_read(READ_TIMEOUT)
        .timeout_write(READ_TIMEOUT)
        .user_agent(concat!("redblue/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Checks that a mirror base URL can be downloaded from: it must start with `http://` or
/// `https://` (any letter case) followed by a host. Acquisition checks every mirror with this
/// before any network access, so a typo is reported as such instead of as a failed download.
pub fn validate_mirror(base: &str) -> Result<(), DataError> {
    let bad = |problem: String, example: String| DataError::BadMirror { mirror: base.to_string(), problem, example };
    let trimmed = base.trim();
    if trimmed.is_empty() {
        return Err(bad("empty URL".to_string(), String::new()));
    }
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        // `localhost:8000/`, `mirror.example/mnist/`: a host without a scheme.
        let example =
            if trimmed.contains(char::is_whitespace) { String::new() } else { format!(", e.g. http://{trimmed}") };
        return Err(bad("no URL scheme".to_string(), example));
    };
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return Err(bad(format!("unsupported URL scheme {scheme:?}"), String::new()));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(bad("no host".to_string(), String::new()));
    }
    Ok(())
}

/// The URL of `<name>.gz` under mirror `base` (a `/` is inserted if `base` lacks one).
pub fn file_url(base: &str, name: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{name}.gz")
    } else {
        format!("{base}/{name}.gz")
    }
}

/// Downloads `<base><spec.name>.gz`, decompresses it and verifies the SHA-256 of the
/// decompressed bytes against `spec.sha256`. Returns the raw (decompressed) verified bytes.
pub fn download_file(agent: &ureq::Agent, base: &str, spec: &FileSpec) -> Result<Vec<u8>, DataError> {
    validate_mirror(base)?;
    let url = file_url(base, &spec.name);
    log::info!("downloading {url}");
    let http_err = |message: String| DataError::Http { url: url.clone(), message };
    let response = agent.get(&url).call().map_err(|e| match e {
        ureq::Error::Status(code, r) => http_err(format!("HTTP status {code} {}", r.status_text())),
        ureq::Error::Transport(t) => http_err(transport_message(&t)),
    })?;
    let mut body = Vec::new();
    response
        .into_reader()
        .take(MAX_DOWNLOAD + 1)
        .read_to_end(&mut body)
        .map_err(|e| http_err(format!("reading the body failed: {e}")))?;
    if body.len() as u64 > MAX_DOWNLOAD {
        return Err(http_err(format!("body larger than {MAX_DOWNLOAD} bytes")));
    }
    let raw = decompress_if_gzip(body, &PathBuf::from(&url))?;
    verify(&format!("{} (from {url})", spec.name), &raw, &spec.sha256)?;
    Ok(raw)
}

/// A transport error without the URL (which the caller already names).
fn transport_message(t: &ureq::Transport) -> String {
    let mut msg = t.kind().to_string();
    if let Some(m) = t.message() {
        msg.push_str(": ");
        msg.push_str(m);
    }
    if let Some(src) = std::error::Error::source(t) {
        msg.push_str(": ");
        msg.push_str(&src.to_string());
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_schemes_are_checked() {
        for ok in [
            "http://127.0.0.1:8000/",
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "HTTP://Example.org",
            "http://user:pw@host/x/",
        ] {
            assert!(validate_mirror(ok).is_ok(), "{ok}");
        }
        let msg = |base: &str| validate_mirror(base).unwrap_err().to_string();
        assert_eq!(msg("ftp://x/"), "unsupported URL scheme \"ftp\" in mirror ftp://x/ (use http:// or https://)");
        assert_eq!(
            msg("file:///tmp/"),
            "unsupported URL scheme \"file\" in mirror file:///tmp/ (use http:// or https://)"
        );
        assert_eq!(
            msg("localhost:8000"),
            "no URL scheme in mirror localhost:8000 \
             (use http:// or https://, e.g. http://localhost:8000)"
        );
        assert_eq!(msg("http:///mnist/"), "no host in mirror http:///mnist/ (use http:// or https://)");
        assert!(msg("").starts_with("empty URL in mirror"), "{}", msg(""));
    }

    #[test]
    fn download_file_refuses_bad_scheme_without_network() {
        let spec = FileSpec { name: "train-images-idx3-ubyte".into(), sha256: "00".into() };
        let err = download_file(&agent(Duration::from_secs(1)), "ftp://x/", &spec).unwrap_err();
        assert!(matches!(err, DataError::BadMirror { .. }), "{err:?}");
    }
}
