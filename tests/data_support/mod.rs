//! Shared helpers for the `data` integration tests: tiny synthetic IDX data sets and a
//! bounded HTTP/1.1 server on 127.0.0.1 that serves fixed files.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redblue::data::{sha256_hex, write_idx_images, write_idx_labels, AcquirePlan, DatasetKind, FileSpec, FILE_NAMES};

/// Raw IDX bytes of a tiny synthetic data set, in FILE_NAMES order.
pub struct Synthetic {
    pub files: [Vec<u8>; 4],
}

impl Synthetic {
    /// 6 train and 3 test images of 4x3 pixels.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = |i: usize| dir.path().join(FILE_NAMES[i]);
        let train_px: Vec<u8> = (0..6 * 12).map(|i| (i * 7 % 256) as u8).collect();
        let test_px: Vec<u8> = (0..3 * 12).map(|i| (255 - i * 5) as u8).collect();
        write_idx_images(&p(0), 6, 4, 3, &train_px).unwrap();
        write_idx_labels(&p(1), &[0, 1, 2, 3, 4, 9]).unwrap();
        write_idx_images(&p(2), 3, 4, 3, &test_px).unwrap();
        write_idx_labels(&p(3), &[5, 6, 7]).unwrap();
        Synthetic { files: std::array::from_fn(|i| std::fs::read(p(i)).unwrap()) }
    }

    /// A plan expecting exactly these files.
    pub fn plan(&self, kind: DatasetKind) -> AcquirePlan {
        let mut plan = AcquirePlan::for_kind(kind);
        plan.specs =
            std::array::from_fn(|i| FileSpec { name: FILE_NAMES[i].to_string(), sha256: sha256_hex(&self.files[i]) });
        plan.npm_package = None;
        plan.system_dir = None;
        plan.apt_package = None;
        plan
    }

    /// Writes the files raw into `dir`.
    pub fn write_raw(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for (name, bytes) in FILE_NAMES.iter().zip(&self.files) {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }

    /// Writes the files as `<name>.gz` into `dir`.
    pub fn write_gz(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for (name, bytes) in FILE_NAMES.iter().zip(&self.files) {
            std::fs::write(dir.join(format!("{name}.gz")), gzip(bytes)).unwrap();
        }
    }

    /// `/<name>.gz` -> gzipped bytes, as a mirror serves them.
    pub fn served(&self) -> HashMap<String, Vec<u8>> {
        FILE_NAMES.iter().zip(&self.files).map(|(name, bytes)| (format!("/{name}.gz"), gzip(bytes))).collect()
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Names of the entries of `dir`, sorted.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// A base URL on 127.0.0.1 where nothing listens.
pub fn closed_port_base() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/")
}

/// A bounded HTTP/1.1 server: answers at most `max_requests` requests, and stops after 30 s.
pub struct Server {
    pub base: String,
    pub requests: Arc<Mutex<Vec<String>>>,
    handle: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(files: HashMap<String, Vec<u8>>, max_requests: usize) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        let handle = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut served = 0;
            while served < max_requests && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Some(path) = handle_one(stream, &files) {
                            log.lock().unwrap().push(path);
                        }
                        served += 1;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server { base, requests, handle: Some(handle) }
    }

    /// Waits for the server thread (it ends after its request budget or deadline).
    pub fn join(mut self) -> Vec<String> {
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
        self.requests.lock().unwrap().clone()
    }
}

fn handle_one(mut stream: TcpStream, files: &HashMap<String, Vec<u8>>) -> Option<String> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16384 {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let path = text.split_whitespace().nth(1).unwrap_or("").to_string();
    let (status, body): (&str, &[u8]) = match files.get(&path) {
        Some(b) => ("200 OK", b),
        None => ("404 Not Found", b"not found"),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    stream.flush().ok()?;
    Some(path)
}
