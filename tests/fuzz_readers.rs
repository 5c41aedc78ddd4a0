//! Fuzz tests of the four file readers: the IDX reader (`data::decompress_if_gzip`,
//! `data::decompress_gzip`, `data::parse_images`, `data::parse_labels`), the model loader
//! (`model::file::from_bytes`), the ONNX importer (`model::onnx::import`) and the
//! adversarial-set loader (`advset::AdvSet::from_bytes`).
//!
//! The standing guarantee: no panic and no hang on arbitrary bytes or on mutations of valid
//! files. Each reader gets random byte strings and structure-aware mutations of valid seed
//! files (bit flips, interesting bytes, truncation, inserted, deleted and duplicated runs,
//! tampered safetensors header lengths, changed numbers and names inside the JSON header,
//! tampered IDX header fields, gzip wrapping). Every case runs under `catch_unwind` and is
//! timed; a case over [`CASE_LIMIT`] fails the test, and a watchdog ends the process (after
//! saving the input) if one never returns.
//!
//! Environment: `REDBLUE_FUZZ_CASES` (cases per reader, default [`DEFAULT_CASES`]),
//! `REDBLUE_FUZZ_SEED` (default 0), `REDBLUE_FUZZ_ONLY=<case>` (replay one case, printing its
//! input and outcome). The inputs are a pure function of (seed, reader, case index), so a
//! reported case can be replayed exactly.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use redblue::advset::{AdvMeta, AdvSet};
use redblue::data::{decompress_gzip, decompress_if_gzip, parse_images, parse_labels, sha256_hex};
use redblue::model::{file as model_file, Arch, Classifier, Mlp, MlpConfig, Model, Network};

/// Cases per reader unless `REDBLUE_FUZZ_CASES` says otherwise.
const DEFAULT_CASES: usize = 100_000;
/// Longest time one case may take.
const CASE_LIMIT: Duration = Duration::from_secs(2);
/// A case still running after this long is a hang: the watchdog saves it and ends the process.
const HANG_LIMIT: Duration = Duration::from_secs(30);
/// How many panics are described in full (all are counted).
const SHOWN_PANICS: usize = 5;

// ---------------------------------------------------------------------------------------------
// Deterministic randomness

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// The generator of case `case` of reader `salt` under `seed`: a pure function of the three.
fn case_rng(seed: u64, salt: u64, case: usize) -> Rng {
    let mut r = Rng(seed ^ salt.rotate_left(17));
    let a = r.next();
    let mut r = Rng(a ^ (case as u64).wrapping_mul(0xd1b5_4a32_d192_ed03));
    r.next();
    r
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().replace('_', "").parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a valid number"))
        }
        _ => default,
    }
}

// ---------------------------------------------------------------------------------------------
// Generic mutations

const INTERESTING_BYTES: &[u8] = &[
    0, 1, 2, 7, 8, 9, 10, 0x0f, 0x10, 0x1f, 0x20, 0x3f, 0x40, 0x7e, 0x7f, 0x80, 0x81, 0x8b, 0xfe, 0xff, b'0', b'1',
    b'9', b'-', b'.', b'e', b'{', b'}', b'[', b']', b'"', b',', b':', b'\\',
];
const INTERESTING_U32: &[u32] =
    &[0, 1, 2, 3, 10, 28, 255, 256, 784, 0x801, 0x803, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff];

/// One random edit of `v`.
fn mutate_once(rng: &mut Rng, v: &mut Vec<u8>) {
    let len = v.len();
    match rng.below(11) {
        0 | 1 => {
            // Bit flips.
            for _ in 0..rng.range(1, 8) {
                if v.is_empty() {
                    break;
                }
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
        }
        2 | 3 => {
            // Interesting byte values.
            for _ in 0..rng.range(1, 4) {
                if v.is_empty() {
                    break;
                }
                let i = rng.below(v.len());
                v[i] = *rng.pick(INTERESTING_BYTES);
            }
        }
        4 => {
            // An interesting 32-bit value, either byte order.
            if len >= 4 {
                let i = rng.below(len - 3);
                let x = *rng.pick(INTERESTING_U32);
                let b = if rng.chance(50) { x.to_be_bytes() } else { x.to_le_bytes() };
                v[i..i + 4].copy_from_slice(&b);
            }
        }
        5 => v.truncate(rng.below(len + 1)),
        6 => {
            // Insert a run: random bytes or one repeated interesting byte.
            let at = rng.below(len + 1);
            let n = rng.range(1, 64);
            let run = if rng.chance(50) { rng.bytes(n) } else { vec![*rng.pick(INTERESTING_BYTES); n] };
            v.splice(at..at, run);
        }
        7 => {
            // Delete a run.
            if len > 0 {
                let at = rng.below(len);
                let n = rng.range(1, 64.min(len - at));
                v.drain(at..at + n);
            }
        }
        8 => {
            // Duplicate a chunk somewhere.
            if len > 0 {
                let from = rng.below(len);
                let n = rng.range(1, 256.min(len - from));
                let chunk = v[from..from + n].to_vec();
                let at = rng.below(len + 1);
                v.splice(at..at, chunk);
            }
        }
        9 => {
            let n = rng.range(1, 64);
            let tail = rng.bytes(n);
            v.extend_from_slice(&tail);
        }
        _ => {
            // Overwrite a run with random bytes.
            if len > 0 {
                let at = rng.below(len);
                let n = rng.range(1, 32.min(len - at));
                for b in &mut v[at..at + n] {
                    *b = rng.next() as u8;
                }
            }
        }
    }
}

/// One to four stacked random edits.
fn mutate(rng: &mut Rng, v: &mut Vec<u8>) {
    for _ in 0..rng.range(1, 4) {
        mutate_once(rng, v);
        if !rng.chance(35) {
            break;
        }
    }
}

fn random_input(rng: &mut Rng) -> Vec<u8> {
    let n = rng.below(4096);
    rng.bytes(n)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

// ---------------------------------------------------------------------------------------------
// safetensors-aware mutations

/// A safetensors file built by hand: JSON header (with an optional `__metadata__`), padded
/// with spaces to a multiple of 8, then the tensors' bytes in order.
fn safetensors_file(tensors: &[(&str, &str, Vec<usize>, Vec<u8>)], metadata: Option<serde_json::Value>) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if let Some(m) = metadata {
        header.insert("__metadata__".into(), m);
    }
    let mut offset = 0;
    for (name, dtype, shape, data) in tensors {
        header.insert(
            name.to_string(),
            serde_json::json!({
                "dtype": dtype, "shape": shape, "data_offsets": [offset, offset + data.len()]
            }),
        );
        offset += data.len();
    }
    let mut head = serde_json::Value::Object(header).to_string().into_bytes();
    while head.len() % 8 != 0 {
        head.push(b' ');
    }
    with_header(&head, tensors.iter().flat_map(|t| t.3.iter().copied()))
}

/// `len(header) as u64 LE ++ header ++ data`.
fn with_header(head: &[u8], data: impl IntoIterator<Item = u8>) -> Vec<u8> {
    let mut out = (head.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(head);
    out.extend(data);
    out
}

/// The JSON header's byte range in a well-formed safetensors file.
fn header_range(v: &[u8]) -> Option<(usize, usize)> {
    let n = u64::from_le_bytes(v.get(..8)?.try_into().ok()?);
    let end = usize::try_from(n).ok()?.checked_add(8)?;
    (end <= v.len()).then_some((8, end))
}

/// Replaces `v[start..end]` (inside the header) with `with`, and usually fixes the length prefix.
fn splice_header(rng: &mut Rng, v: &mut Vec<u8>, start: usize, end: usize, with: &[u8]) {
    let old = u64::from_le_bytes(v[..8].try_into().unwrap_or([0; 8]));
    v.splice(start..end, with.iter().copied());
    if rng.chance(85) {
        let new = old.wrapping_add(with.len() as u64).wrapping_sub((end - start) as u64);
        v[..8].copy_from_slice(&new.to_le_bytes());
    }
}

const INTERESTING_NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "4",
    "7",
    "8",
    "10",
    "16",
    "28",
    "784",
    "6272",
    "6288",
    "65536",
    "1048576",
    "1048577",
    "2147483648",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "-1",
    "-0",
    "1e3",
    "1.5",
    "NaN",
    "null",
];

/// Changes one number in the JSON header (shapes, offsets, and numbers inside the escaped
/// metadata JSON): a digit, a small step, or an interesting value.
fn mutate_json_number(rng: &mut Rng, v: &mut Vec<u8>) -> bool {
    let Some((hs, he)) = header_range(v) else {
        return false;
    };
    let mut runs = Vec::new();
    let mut i = hs;
    while i < he {
        if v[i].is_ascii_digit() {
            let s = i;
            while i < he && v[i].is_ascii_digit() {
                i += 1;
            }
            runs.push((s, i));
        } else {
            i += 1;
        }
    }
    if runs.is_empty() {
        return false;
    }
    let (s, e) = *rng.pick(&runs);
    let text = std::str::from_utf8(&v[s..e]).unwrap_or("0").to_string();
    let new = match rng.below(4) {
        0 => {
            // One digit changed: same length, so the header length stays right.
            let mut t = text.into_bytes();
            let k = rng.below(t.len());
            t[k] = b'0' + rng.below(10) as u8;
            String::from_utf8(t).unwrap_or_default()
        }
        1 => {
            let x: u64 = text.parse().unwrap_or(0);
            let step = *rng.pick(&[1u64, 2, 4, 8, 784, 3136]);
            if rng.chance(50) {
                x.wrapping_add(step).to_string()
            } else {
                x.wrapping_sub(step).to_string()
            }
        }
        2 => {
            let x: u64 = text.parse().unwrap_or(0);
            x.wrapping_mul(*rng.pick(&[0u64, 2, 4, 1 << 32])).to_string()
        }
        _ => rng.pick(INTERESTING_NUMBERS).to_string(),
    };
    splice_header(rng, v, s, e, new.as_bytes());
    true
}

const NAMES: &[&str] = &[
    "F32",
    "F16",
    "BF16",
    "F64",
    "U8",
    "I8",
    "I16",
    "I32",
    "I64",
    "U16",
    "U32",
    "U64",
    "BOOL",
    "F8_E4M3",
    "XX",
    "",
    "images",
    "labels",
    "fc1.weight",
    "fc1.bias",
    "fc2.weight",
    "fc2.bias",
    "__metadata__",
    "redblue.arch",
    "redblue.train",
    "redblue.advset",
    "format",
    "shape",
    "dtype",
    "data_offsets",
];

/// Replaces one JSON string token of the header (`"F32"`, `"images"`, a key) with another name.
fn mutate_json_string(rng: &mut Rng, v: &mut Vec<u8>) -> bool {
    let Some((hs, he)) = header_range(v) else {
        return false;
    };
    // Plain (unescaped) string tokens: a quote, some name characters, a quote.
    let mut tokens = Vec::new();
    let mut i = hs;
    while i < he {
        if v[i] == b'"' {
            let s = i + 1;
            let mut j = s;
            while j < he && (v[j].is_ascii_alphanumeric() || b"._".contains(&v[j])) {
                j += 1;
            }
            if j < he && v[j] == b'"' {
                tokens.push((s, j));
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    if tokens.is_empty() {
        return false;
    }
    let (s, e) = *rng.pick(&tokens);
    let name = *rng.pick(NAMES);
    splice_header(rng, v, s, e, name.as_bytes());
    true
}

/// Sets the 8-byte header length to a bad or borderline value.
fn tamper_header_len(rng: &mut Rng, v: &mut Vec<u8>) {
    if v.len() < 8 {
        v.resize(8, 0);
    }
    let n = u64::from_le_bytes(v[..8].try_into().unwrap_or([0; 8]));
    let total = v.len() as u64;
    let random = rng.next() % (total + 16);
    let new = *rng.pick(&[
        0,
        1,
        2,
        n.wrapping_sub(1),
        n.wrapping_add(1),
        n.wrapping_sub(8),
        n.wrapping_add(8),
        total,
        total.wrapping_sub(8),
        total - 7,
        100_000_000,
        100_000_001,
        u32::MAX as u64,
        1 << 32,
        1 << 63,
        u64::MAX,
        u64::MAX - 7,
        random,
    ]);
    v[..8].copy_from_slice(&new.to_le_bytes());
}

/// Writes a special float (NaN, infinities, huge, subnormal) over a random 4-byte slot of the
/// data area.
fn poke_float(rng: &mut Rng, v: &mut [u8]) {
    let Some((_, he)) = header_range(v) else {
        return;
    };
    if v.len() < he + 4 {
        return;
    }
    let slot = he + 4 * rng.below((v.len() - he) / 4);
    let x = *rng.pick(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN_POSITIVE / 2.0, -0.0, 1e30]);
    v[slot..slot + 4].copy_from_slice(&x.to_le_bytes());
}

/// One safetensors-aware case from `seeds`.
fn safetensors_case(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let roll = rng.below(100);
    if roll < 6 {
        return random_input(rng);
    }
    if roll < 9 {
        // A plausible prefix (header length, '{') and then noise.
        let n = rng.below(512);
        let mut v = rng.bytes(n);
        let head_len = rng.below(v.len() + 8) as u64;
        let mut out = head_len.to_le_bytes().to_vec();
        out.push(b'{');
        out.append(&mut v);
        return out;
    }
    let mut v = rng.pick(seeds).clone();
    if roll < 12 {
        return v; // an unmutated seed now and then
    }
    match rng.below(10) {
        0..=2 => mutate(rng, &mut v),
        3 => tamper_header_len(rng, &mut v),
        4..=6 => {
            for _ in 0..rng.range(1, 3) {
                mutate_json_number(rng, &mut v);
            }
        }
        7 => {
            mutate_json_string(rng, &mut v);
        }
        8 => poke_float(rng, &mut v),
        _ => {
            // A structural edit plus a generic one.
            if rng.chance(50) {
                mutate_json_number(rng, &mut v);
            } else {
                mutate_json_string(rng, &mut v);
            }
            mutate(rng, &mut v);
        }
    }
    v
}

// ---------------------------------------------------------------------------------------------
// The harness

thread_local! {
    static IN_CASE: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A panic hook that, inside a fuzz case, records message and location instead of printing
/// them (a million panics would flood the output); elsewhere it defers to the default hook.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_CASE.with(Cell::get) {
                let payload = info.payload();
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "<non-string panic payload>".into());
                let at = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_else(|| "<unknown location>".into());
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("'{msg}' at {at}")));
            } else {
                default(info);
            }
        }));
    });
}

/// How a reader treated one input.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Accepted,
    /// Refused, with the error message.
    Rejected(String),
}

/// An error message reduced to its kind: without the file name, digits as `#`, shortened.
fn error_kind(msg: &str, path: &Path) -> String {
    let msg = msg.replace(&path.display().to_string(), "<file>");
    let mut kind = String::new();
    for c in msg.chars() {
        let c = if c.is_ascii_digit() { '#' } else { c };
        if !(c == '#' && kind.ends_with('#')) {
            kind.push(c);
        }
    }
    kind.chars().take(72).collect()
}

struct Report {
    reader: &'static str,
    cases: usize,
    accepted: usize,
    rejected: usize,
    panics: Vec<(usize, String)>,
    /// Cases whose result broke an invariant (the message says which).
    violations: Vec<(usize, String)>,
    slow: Vec<(usize, Duration)>,
    slowest: (Duration, usize),
    wall: Duration,
    /// How often each kind of error was seen.
    kinds: std::collections::BTreeMap<String, usize>,
}

fn hex_prefix(v: &[u8], n: usize) -> String {
    let hex: Vec<String> = v.iter().take(n).map(|b| format!("{b:02x}")).collect();
    format!("{}{} ({} bytes)", hex.join(" "), if v.len() > n { " ..." } else { "" }, v.len())
}

/// Saves a failing input for reproduction and returns where.
fn save_input(reader: &str, seed: u64, case: usize, v: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("redblue-fuzz-{reader}-seed{seed}-case{case}.bin"));
    if let Err(e) = std::fs::write(&path, v) {
        eprintln!("could not save {}: {e}", path.display());
    }
    path
}

fn salt_of(reader: &str) -> u64 {
    reader.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Runs `cases` generated inputs through `check`, each under `catch_unwind` and timed, with a
/// watchdog for hangs. `check` returns the outcome, or `Err` for an invariant violation.
fn run_reader<G, C>(reader: &'static str, generate: G, check: C) -> Report
where
    G: Fn(&mut Rng) -> Vec<u8> + Sync,
    C: Fn(&[u8]) -> Result<Outcome, String>,
{
    install_panic_hook();
    let seed: u64 = env_or("REDBLUE_FUZZ_SEED", 0);
    let salt = salt_of(reader);
    let only: Option<usize> = std::env::var("REDBLUE_FUZZ_ONLY").ok().and_then(|v| v.trim().parse().ok());
    let (first, cases) = match only {
        Some(i) => (i, 1),
        None => (0, env_or("REDBLUE_FUZZ_CASES", DEFAULT_CASES)),
    };
    let base = Instant::now();
    // Case index and start time (ns since `base`, 0 = between cases) for the watchdog.
    let current = AtomicU64::new(0);
    let started = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let mut report = Report {
        reader,
        cases,
        accepted: 0,
        rejected: 0,
        panics: Vec::new(),
        violations: Vec::new(),
        slow: Vec::new(),
        slowest: (Duration::ZERO, first),
        wall: Duration::ZERO,
        kinds: Default::default(),
    };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut warned = usize::MAX;
            while !done.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(50));
                let t0 = started.load(Ordering::Acquire);
                if t0 == 0 {
                    continue;
                }
                let case = current.load(Ordering::Acquire) as usize;
                let running = base.elapsed().saturating_sub(Duration::from_nanos(t0));
                if running > CASE_LIMIT && warned != case {
                    warned = case;
                    eprintln!("[{reader}] case {case} has been running for {running:?}");
                }
                if running > HANG_LIMIT {
                    let input = generate(&mut case_rng(seed, salt, case));
                    let path = save_input(reader, seed, case, &input);
                    eprintln!(
                        "[{reader}] HANG: case {case} (seed {seed}) did not return within \
                         {HANG_LIMIT:?}; input {} saved to {}; replay with \
                         REDBLUE_FUZZ_SEED={seed} REDBLUE_FUZZ_ONLY={case}",
                        hex_prefix(&input, 64),
                        path.display()
                    );
                    std::process::exit(3);
                }
            }
        });
        let t_all = Instant::now();
        for case in first..first + cases {
            let input = generate(&mut case_rng(seed, salt, case));
            if only.is_some() {
                eprintln!("[{reader}] case {case}: input {}", hex_prefix(&input, 256));
            }
            current.store(case as u64, Ordering::Release);
            started.store((base.elapsed().as_nanos() as u64).max(1), Ordering::Release);
            IN_CASE.with(|c| c.set(true));
            let t = Instant::now();
            let result = panic::catch_unwind(AssertUnwindSafe(|| check(&input)));
            let took = t.elapsed();
            IN_CASE.with(|c| c.set(false));
            started.store(0, Ordering::Release);
            if took > report.slowest.0 {
                report.slowest = (took, case);
            }
            if took > CASE_LIMIT {
                report.slow.push((case, took));
                save_input(reader, seed, case, &input);
            }
            if only.is_some() {
                eprintln!("[{reader}] case {case}: {result:?} in {took:?}");
            }
            match result {
                Ok(Ok(Outcome::Accepted)) => report.accepted += 1,
                Ok(Ok(Outcome::Rejected(kind))) => {
                    report.rejected += 1;
                    *report.kinds.entry(kind).or_default() += 1;
                }
                Ok(Err(why)) => {
                    if report.violations.len() < SHOWN_PANICS {
                        let path = save_input(reader, seed, case, &input);
                        eprintln!(
                            "[{reader}] case {case}: {why}\n  input {}\n  saved to {}",
                            hex_prefix(&input, 64),
                            path.display()
                        );
                    }
                    report.violations.push((case, why));
                }
                Err(_) => {
                    let what = LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_else(|| "<panic>".into());
                    if report.panics.len() < SHOWN_PANICS {
                        let path = save_input(reader, seed, case, &input);
                        eprintln!(
                            "[{reader}] PANIC in case {case} (seed {seed}): {what}\n  input {}\n  \
                             saved to {}; replay with REDBLUE_FUZZ_SEED={seed} \
                             REDBLUE_FUZZ_ONLY={case}",
                            hex_prefix(&input, 64),
                            path.display()
                        );
                    }
                    report.panics.push((case, what));
                }
            }
        }
        report.wall = t_all.elapsed();
        done.store(true, Ordering::Release);
    });
    println!(
        "fuzz {:<8} cases {:>8}  panics {}  invariant violations {}  accepted {} rejected {}  \
         slowest case {:?} (#{})  total {:.2?} (seed {seed})",
        report.reader,
        report.cases,
        report.panics.len(),
        report.violations.len(),
        report.accepted,
        report.rejected,
        report.slowest.0,
        report.slowest.1,
        report.wall,
    );
    if std::env::var_os("REDBLUE_FUZZ_STATS").is_some() {
        let mut kinds: Vec<_> = report.kinds.iter().collect();
        kinds.sort_by(|a, b| b.1.cmp(a.1));
        println!("[{reader}] {} kinds of error; the most frequent:", kinds.len());
        for (kind, n) in kinds.iter().take(40) {
            println!("  {n:>8}  {kind}");
        }
    }
    report
}

/// Fails on panics, slow cases and invariant violations, and checks that the reader still
/// validates: at least `min_rejected` of the cases must be refused, and at least
/// `min_accepted` accepted (so the mutations do not all degenerate into garbage).
fn assert_clean(r: &Report, min_rejected: f64, min_accepted: f64) {
    let first = |v: &[(usize, String)]| v.first().map(|(c, w)| format!("case {c}: {w}"));
    assert!(
        r.panics.is_empty(),
        "[{}] {} panic(s) in {} cases; first: {:?}",
        r.reader,
        r.panics.len(),
        r.cases,
        first(&r.panics)
    );
    assert!(
        r.slow.is_empty(),
        "[{}] {} case(s) over {CASE_LIMIT:?}: {:?}",
        r.reader,
        r.slow.len(),
        &r.slow[..r.slow.len().min(5)]
    );
    assert!(
        r.violations.is_empty(),
        "[{}] {} invariant violation(s); first: {:?}",
        r.reader,
        r.violations.len(),
        first(&r.violations)
    );
    if r.cases >= 1000 {
        let n = r.cases as f64;
        let (rej, acc) = (r.rejected as f64 / n, r.accepted as f64 / n);
        assert!(
            rej >= min_rejected,
            "[{}] only {:.1}% of inputs rejected (expected at least {:.0}%): has the reader \
             stopped validating?",
            r.reader,
            100.0 * rej,
            100.0 * min_rejected
        );
        assert!(
            acc >= min_accepted,
            "[{}] only {:.2}% of inputs accepted (expected at least {:.1}%): are the seeds \
             or the mutator broken?",
            r.reader,
            100.0 * acc,
            100.0 * min_accepted
        );
    }
}

// ---------------------------------------------------------------------------------------------
// IDX reader

fn idx_images(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [0x0803u32, n, rows, cols] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    let len = (n * rows * cols) as usize;
    v.extend((0..len).map(|i| (i * 37 % 256) as u8));
    v
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = 0x0801u32.to_be_bytes().to_vec();
    v.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

fn idx_seeds() -> Vec<Vec<u8>> {
    vec![
        idx_images(3, 28, 28),
        idx_images(2, 3, 4),
        idx_images(1, 1, 1),
        idx_labels(&[3, 1, 4]),
        idx_labels(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
        idx_labels(&[9]),
    ]
}

/// Sets IDX header fields (magic, dimensions) to borderline values.
fn tamper_idx_header(rng: &mut Rng, v: &mut Vec<u8>) {
    if v.len() < 16 && rng.chance(50) {
        v.resize(16, 0);
    }
    for _ in 0..rng.range(1, 3) {
        let field = rng.below(4);
        if v.len() < 4 * field + 4 {
            continue;
        }
        let x = match rng.below(6) {
            0 => *rng.pick(&[0x0801, 0x0803, 0x0802, 0x0808, 0x0d03, 0x0803_0000, 0]),
            1 => *rng.pick(&[0, 1, 2]),
            2 => *rng.pick(&[1 << 31, u32::MAX, u32::MAX - 1, 1 << 16]),
            3 => rng.next() as u32,
            4 => {
                // A count that matches (or nearly matches) the bytes that are there.
                let body = v.len().saturating_sub(16) as u32;
                *rng.pick(&[body, body + 1, body.saturating_sub(1), v.len() as u32])
            }
            _ => *rng.pick(INTERESTING_U32),
        };
        v[4 * field..4 * field + 4].copy_from_slice(&x.to_be_bytes());
    }
}

fn idx_case(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let roll = rng.below(100);
    if roll < 8 {
        return random_input(rng);
    }
    if roll < 11 {
        // Random bytes behind the gzip magic.
        let mut v = vec![0x1f, 0x8b];
        let n = rng.below(512);
        v.extend(rng.bytes(n));
        return v;
    }
    let mut v = rng.pick(seeds).clone();
    if roll < 14 {
        return if rng.chance(50) { gzip(&v) } else { v };
    }
    match rng.below(8) {
        0..=2 => mutate(rng, &mut v),
        3 | 4 => tamper_idx_header(rng, &mut v),
        5 => {
            tamper_idx_header(rng, &mut v);
            mutate(rng, &mut v);
        }
        _ => {
            // Gzip-wrap a (usually mutated) file; sometimes damage the gzip stream too.
            if rng.chance(70) {
                if rng.chance(50) {
                    tamper_idx_header(rng, &mut v);
                } else {
                    mutate(rng, &mut v);
                }
            }
            v = gzip(&v);
            if rng.chance(50) {
                mutate(rng, &mut v);
            }
        }
    }
    v
}

/// An error message must name the file it is about.
fn names(msg: &str, what: &str, path: &Path) -> Result<(), String> {
    let p = path.display().to_string();
    if msg.contains(&p) {
        Ok(())
    } else {
        Err(format!("{what} error does not name {p}: {msg}"))
    }
}

fn check_idx(input: &[u8]) -> Result<Outcome, String> {
    let path = Path::new("fuzz/train-images-idx3-ubyte.gz");
    let strict = decompress_gzip(input, path);
    let raw = match decompress_if_gzip(input.to_vec(), path) {
        Ok(raw) => raw,
        Err(e) => {
            let msg = e.to_string();
            names(&msg, "gzip", path)?;
            if strict.is_ok() {
                return Err("decompress_gzip accepted what decompress_if_gzip refused".into());
            }
            return Ok(Outcome::Rejected(error_kind(&msg, path)));
        }
    };
    match &strict {
        Ok(s) if s != &raw => return Err("the two gzip readers disagree".into()),
        Err(e) => names(&e.to_string(), "gzip", path)?,
        Ok(_) => {}
    }
    let images = match parse_images(&raw, path) {
        Ok(img) => {
            let expected = img.n.checked_mul(img.rows).and_then(|x| x.checked_mul(img.cols));
            if img.n == 0 || img.rows == 0 || img.cols == 0 || expected != Some(img.pixels.len()) {
                return Err(format!(
                    "images accepted with {} x {} x {} and {} pixels",
                    img.n,
                    img.rows,
                    img.cols,
                    img.pixels.len()
                ));
            }
            if raw.len() != 16 + img.pixels.len() || raw[16..] != img.pixels[..] {
                return Err("images accepted but pixels are not the file's body".into());
            }
            None
        }
        Err(e) => {
            let msg = e.to_string();
            names(&msg, "images", path)?;
            Some(msg)
        }
    };
    let labels = match parse_labels(&raw, path) {
        Ok(labels) => {
            if labels.is_empty() || labels.iter().any(|&l| l >= 10) || raw.len() != 8 + labels.len() {
                return Err(format!("labels accepted: {} values", labels.len()));
            }
            if images.is_none() {
                return Err("accepted as images and as labels".into());
            }
            None
        }
        Err(e) => {
            let msg = e.to_string();
            names(&msg, "labels", path)?;
            Some(msg)
        }
    };
    match (images, labels) {
        (Some(i), Some(l)) => {
            // Report the error of the parser whose magic number the input has, if either.
            let msg = if i.contains("bad IDX magic") { l } else { i };
            Ok(Outcome::Rejected(error_kind(&msg, path)))
        }
        _ => Ok(Outcome::Accepted),
    }
}

#[test]
fn fuzz_idx_reader() {
    let seeds = idx_seeds();
    let path = Path::new("seed");
    for s in &seeds[..3] {
        parse_images(s, path).expect("image seed parses");
        let gz = decompress_if_gzip(gzip(s), path).expect("gzipped seed decompresses");
        assert_eq!(&gz, s);
    }
    for s in &seeds[3..] {
        parse_labels(s, path).expect("label seed parses");
    }
    let r = run_reader("idx", |rng| idx_case(rng, &seeds), check_idx);
    assert_clean(&r, 0.5, 0.03);
}

// ---------------------------------------------------------------------------------------------
// Model loader

fn small_model(input: usize, hidden: usize) -> Mlp {
    let config = MlpConfig { input, hidden, classes: 10, ..MlpConfig::default() };
    let wave = |n: usize, k: f32| -> Vec<f32> { (0..n).map(|i| ((i as f32) * k).sin() * 0.1).collect() };
    let host = [wave(input * hidden, 0.37), wave(hidden, 1.3), wave(hidden * 10, 0.71), wave(10, 2.1)];
    Mlp::from_host(config, host).expect("a valid small model")
}

/// A model file as PyTorch would write it: the four tensors, no redblue metadata.
fn foreign_model(input: usize, hidden: usize) -> Vec<u8> {
    let f32s = |n: usize| -> Vec<u8> { (0..n).flat_map(|i| (((i % 13) as f32 - 6.0) * 0.01).to_le_bytes()).collect() };
    safetensors_file(
        &[
            ("fc1.weight", "F32", vec![hidden, input], f32s(hidden * input)),
            ("fc1.bias", "F32", vec![hidden], f32s(hidden)),
            ("fc2.weight", "F32", vec![10, hidden], f32s(10 * hidden)),
            ("fc2.bias", "F32", vec![10], f32s(10)),
        ],
        Some(serde_json::json!({ "format": "pt" })),
    )
}

fn model_seeds() -> Vec<Vec<u8>> {
    let train = serde_json::json!({});
    vec![
        model_file::to_bytes(&small_model(16, 4), &train).expect("serialise a small model"),
        model_file::to_bytes(&small_model(784, 4), &train).expect("serialise a 784-4-10 model"),
        foreign_model(16, 4),
        foreign_model(12, 3),
    ]
}

/// A model file's refusal: it must name the file; its kind is counted.
fn rejected_model(e: &redblue::Error, path: &Path) -> Result<Outcome, String> {
    let msg = e.to_string();
    names(&msg, "model", path)?;
    Ok(Outcome::Rejected(error_kind(&msg, path)))
}

fn check_model(input: &[u8]) -> Result<Outcome, String> {
    let path = Path::new("fuzz/model.safetensors");
    match model_file::from_bytes(input, path) {
        Ok((model, meta)) => {
            let c = &model.config;
            if c.validate().is_err() {
                return Err(format!("model accepted with an invalid architecture {c:?}"));
            }
            if meta.sha256 != sha256_hex(input) {
                return Err("model accepted with a wrong sha256".into());
            }
            let expected = [c.input * c.hidden, c.hidden, c.hidden * c.classes, c.classes];
            let host = model.to_host();
            let lens: Vec<usize> = host.iter().map(Vec::len).collect();
            if lens != expected {
                return Err(format!("model accepted with parameter sizes {lens:?} for {c:?}"));
            }
            if host.iter().flatten().any(|x| !x.is_finite()) {
                return Err("model accepted with a non-finite parameter".into());
            }
            Ok(Outcome::Accepted)
        }
        Err(e) => rejected_model(&e, path),
    }
}

#[test]
fn fuzz_model_loader() {
    let seeds = model_seeds();
    for (i, s) in seeds.iter().enumerate() {
        let (m, _) = model_file::from_bytes(s, Path::new("seed"))
            .unwrap_or_else(|e| panic!("model seed {i} does not load: {e}"));
        assert_eq!(m.config.classes, 10);
    }
    let r = run_reader("model", |rng| safetensors_case(rng, &seeds), check_model);
    assert_clean(&r, 0.5, 0.05);
}

fn network_seeds() -> Vec<Vec<u8>> {
    use rand::SeedableRng;
    let train = serde_json::json!({});
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let mut seeds = Vec::new();
    for (name, input, hidden) in
        [("small-cnn", [1, 8, 8], vec![]), ("madry-cnn", [1, 8, 8], vec![]), ("mlp", [1, 4, 4], vec![5, 3])]
    {
        let arch = Arch::builtin(name, input, 10, &hidden).expect("a built-in architecture");
        let net = Network::init(arch, &mut rng).expect("a small network");
        seeds.push(model_file::network_to_bytes(&net, &train).expect("serialise a small network"));
    }
    seeds
}

/// What every accepted model must be: each network tensor of its spec's size and finite, and
/// at least two classes.
fn accepted_model(model: &Model) -> Result<Outcome, String> {
    if let Model::Network(net) = model {
        let specs = net.arch().params().map_err(|e| format!("model accepted with an invalid architecture: {e}"))?;
        for (s, p) in specs.iter().zip(net.params()) {
            if p.len() != s.shape.iter().product::<usize>() || p.iter().any(|v| !v.is_finite()) {
                return Err(format!("model accepted with a bad tensor {}", s.name));
            }
        }
    }
    if model.num_classes() < 2 {
        return Err("model accepted with fewer than 2 classes".into());
    }
    Ok(Outcome::Accepted)
}

fn check_any_model(input: &[u8]) -> Result<Outcome, String> {
    let path = Path::new("fuzz/model.safetensors");
    match model_file::from_bytes_any(input, path) {
        Ok((model, meta)) => {
            if meta.sha256 != sha256_hex(input) {
                return Err("model accepted with a wrong sha256".into());
            }
            accepted_model(&model)
        }
        Err(e) => rejected_model(&e, path),
    }
}

#[test]
fn fuzz_network_model_loader() {
    let seeds = network_seeds();
    for (i, s) in seeds.iter().enumerate() {
        model_file::from_bytes_any(s, Path::new("seed"))
            .unwrap_or_else(|e| panic!("network seed {i} does not load: {e}"));
    }
    let r = run_reader("network model", |rng| safetensors_case(rng, &seeds), check_any_model);
    assert_clean(&r, 0.5, 0.05);
}

// ---------------------------------------------------------------------------------------------
// ONNX importer

/// The ONNX exports of `bench/peers/make_import_fixtures.py`.
fn onnx_seeds() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import");
    ["tiny_cnn.onnx", "tiny_cnn.ts.onnx", "tiny_mlp.onnx", "tiny_flat_mlp.onnx", "tiny_sigmoid.onnx"]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect()
}

/// Random bytes, or a seed with generic mutations (bit flips, truncations, inserted,
/// deleted and duplicated runs), truncated, or with a few bytes of protobuf structure
/// replaced by a varint of an interesting value (a tag, a length, a dimension, an attribute).
fn onnx_case(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if rng.chance(5) {
        return random_input(rng);
    }
    let mut v = rng.pick(seeds).clone();
    if rng.chance(30) {
        let at = rng.below(v.len());
        let mut x = *rng.pick(&[0u64, 1, 2, 3, 5, 7, 8, 11, 127, 128, 1 << 31, u64::MAX >> 1, u64::MAX]);
        let mut varint = Vec::new();
        while x >= 0x80 {
            varint.push((x as u8) | 0x80);
            x >>= 7;
        }
        varint.push(x as u8);
        let end = (at + rng.range(1, 3)).min(v.len());
        v.splice(at..end, varint);
    } else if rng.chance(30) {
        v.truncate(rng.below(v.len() + 1));
    } else {
        mutate(rng, &mut v);
    }
    v
}

fn check_onnx(input: &[u8]) -> Result<Outcome, String> {
    let path = Path::new("fuzz/model.onnx");
    match redblue::model::onnx::import(input, path) {
        Ok((model, info)) => {
            if info.opset < redblue::model::onnx::MIN_OPSET {
                return Err(format!("model accepted with opset {}", info.opset));
            }
            accepted_model(&model)
        }
        Err(e) => rejected_model(&e, path),
    }
}

#[test]
fn fuzz_onnx_importer() {
    let seeds = onnx_seeds();
    for (i, s) in seeds.iter().enumerate() {
        let got = redblue::model::onnx::import(s, Path::new("seed")).map(|_| ());
        // The last seed holds a Sigmoid, refused; the others import.
        assert_eq!(got.is_ok(), i + 1 < seeds.len(), "ONNX seed {i}: {got:?}");
    }
    let r = run_reader("onnx", |rng| onnx_case(rng, &seeds), check_onnx);
    assert_clean(&r, 0.3, 0.05);
}

// ---------------------------------------------------------------------------------------------
// Adversarial-set loader

/// A redblue set of `n` 28x28 images as `AdvSet` writes it: a foreign set is loaded, given
/// redblue metadata and serialised again (no struct literal, so the seed keeps up with
/// changes to `AdvSet`'s fields).
fn advset_seed(n: usize) -> Vec<u8> {
    let images: Vec<u8> = (0..n * 784).flat_map(|i| ((i % 256) as f32 / 255.0).to_le_bytes()).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i * 3 % 10) as u8).collect();
    let bare = safetensors_file(&[("images", "F32", vec![n, 28, 28], images), ("labels", "U8", vec![n], labels)], None);
    let mut set = AdvSet::from_bytes(&bare, Path::new("seed")).expect("a bare set loads");
    let meta: AdvMeta = serde_json::from_value(serde_json::json!({
        "attack": "fgsm",
        "params": { "eps": 0.1 },
        "norm": "linf",
        "eps": 0.1,
        "clip": "clipped",
        "model_sha256": "ab".repeat(32),
        "dataset": "mnist",
        "offset": 7,
        "seed": 1
    }))
    .expect("adversarial-set metadata");
    set.meta = Some(meta);
    let bytes = set.to_bytes().expect("serialise a small adversarial set");
    let back = AdvSet::from_bytes(&bytes, Path::new("seed")).expect("the saved set loads");
    assert!(back.meta.is_some(), "the metadata survives the round trip");
    bytes
}

/// A set written by another tool, exactly as specified: no metadata, images `[N, 1, 28, 28]`
/// F32 and labels I64.
fn foreign_advset() -> Vec<u8> {
    let head = br#"{"images":{"dtype":"F32","shape":[2,1,28,28],"data_offsets":[0,6272]},"labels":{"dtype":"I64","shape":[2],"data_offsets":[6272,6288]}}"#;
    let images = (0..2 * 784).flat_map(|i| ((i % 97) as f32 / 96.0).to_le_bytes());
    let labels = [3i64, 8].into_iter().flat_map(i64::to_le_bytes);
    with_header(head, images.chain(labels))
}

/// The foreign set with U8 labels and `[N, 28, 28]` images, padded header.
fn foreign_advset_u8() -> Vec<u8> {
    let images: Vec<u8> = (0..3 * 784).flat_map(|i| ((i % 101) as f32 / 100.0).to_le_bytes()).collect();
    safetensors_file(&[("images", "F32", vec![3, 28, 28], images), ("labels", "U8", vec![3], vec![1, 2, 3])], None)
}

fn advset_seeds() -> Vec<Vec<u8>> {
    vec![advset_seed(3), advset_seed(2), foreign_advset(), foreign_advset_u8()]
}

fn check_advset(input: &[u8]) -> Result<Outcome, String> {
    let path = Path::new("fuzz/adv.safetensors");
    match AdvSet::from_bytes(input, path) {
        Ok(set) => {
            let expected = set.len().checked_mul(set.rows).and_then(|x| x.checked_mul(set.cols));
            if expected != Some(set.images.len()) {
                return Err(format!(
                    "set accepted with {} labels of {}x{} but {} pixel values",
                    set.len(),
                    set.rows,
                    set.cols,
                    set.images.len()
                ));
            }
            Ok(Outcome::Accepted)
        }
        Err(e) => {
            let msg = e.to_string();
            names(&msg, "adversarial-set", path)?;
            Ok(Outcome::Rejected(error_kind(&msg, path)))
        }
    }
}

#[test]
fn fuzz_advset_loader() {
    let seeds = advset_seeds();
    for (i, s) in seeds.iter().enumerate() {
        let set = AdvSet::from_bytes(s, Path::new("seed"))
            .unwrap_or_else(|e| panic!("adversarial-set seed {i} does not load: {e}"));
        assert_eq!((set.rows, set.cols), (28, 28), "seed {i}");
        assert_eq!(set.images.len(), set.len() * 784, "seed {i}");
    }
    let r = run_reader("advset", |rng| safetensors_case(rng, &seeds), check_advset);
    assert_clean(&r, 0.4, 0.05);
}

/// Hand-made inputs that once were, or could be, trouble.
#[test]
fn crafted_inputs_are_refused() {
    // A U8 tensor whose byte count is usize::MAX: `8 + n + buffer_end` overflows inside a
    // reader that does not check that sum.
    let huge = br#"{"images":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,18446744073709551615]},"labels":{"dtype":"U8","shape":[0],"data_offsets":[18446744073709551615,18446744073709551615]}}"#;
    let file = with_header(huge, [0u8; 8]);
    for e in [
        AdvSet::from_bytes(&file, Path::new("x")).map(|_| ()).unwrap_err(),
        model_file::from_bytes(&file, Path::new("x")).map(|_| ()).unwrap_err(),
    ] {
        let msg = e.to_string();
        println!("crafted safetensors input refused: {msg}");
        assert!(msg.contains("18446744073709551615"), "{msg}");
    }
    // IDX headers whose dimensions overflow or exceed the size limit, raw and gzipped.
    for dims in [[1u32 << 31, 1 << 31, 1], [u32::MAX; 3], [1 << 31, 1, 1]] {
        let mut v = 0x0803u32.to_be_bytes().to_vec();
        dims.iter().for_each(|d| v.extend_from_slice(&d.to_be_bytes()));
        let p = Path::new("x");
        assert!(parse_images(&v, p).is_err());
        let raw = decompress_if_gzip(gzip(&v), p).expect("valid gzip");
        assert!(parse_images(&raw, p).is_err());
    }
}
