//! Which images a command uses: `--offset`/`--subset` style selections, with every piece of
//! arithmetic checked. A selection that does not fit is refused, never clamped: a report must
//! never state an n it did not use.

use crate::error::{Error, Result};
use std::ops::Range;

/// The flags (as the user types them) that made a selection, for error messages.
#[derive(Clone, Copy, Debug)]
pub struct Flags {
    /// The offset flag, e.g. `--offset` (empty when the selection always starts at 0).
    pub offset: &'static str,
    /// The count flag, e.g. `--subset`.
    pub count: &'static str,
    /// What is being selected from, e.g. "test set".
    pub of: &'static str,
}

/// `offset..offset + count` (count defaults to everything after `offset`) inside `0..total`.
pub fn range(total: usize, offset: usize, count: Option<usize>, f: Flags) -> Result<Range<usize>> {
    if total == 0 {
        return Err(Error::param(f.count, "-", format!("the {} is empty", f.of)));
    }
    if offset >= total {
        return Err(Error::param(
            f.offset,
            offset,
            format!("is past the end of the {} ({total} images, last index {})", f.of, total - 1),
        ));
    }
    let room = total - offset;
    let count = match count {
        None => room,
        Some(0) => return Err(Error::param(f.count, 0, "must be at least 1")),
        Some(c) => c,
    };
    match offset.checked_add(count) {
        Some(end) if end <= total => Ok(offset..end),
        _ => {
            let from = if f.offset.is_empty() { String::new() } else { format!(" from {} {offset}", f.offset) };
            Err(Error::param(
                f.count,
                count,
                format!("does not fit: the {} has {total} images, so at most {room}{from}", f.of),
            ))
        }
    }
}

/// Like [`range`] for a selection that always starts at 0 (`--train-subset`, `--pgd-subset`).
pub fn first(total: usize, count: Option<usize>, flag: &'static str, of: &'static str) -> Result<usize> {
    Ok(range(total, 0, count, Flags { offset: "", count: flag, of })?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Flags = Flags { offset: "--offset", count: "--subset", of: "test set" };

    /// SplitMix64, so the property test needs no dependency and always covers the same cases.
    fn next(s: &mut u64) -> u64 {
        *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn interesting(s: &mut u64) -> usize {
        match next(s) % 6 {
            0 => usize::MAX - (next(s) % 3) as usize,
            1 => (next(s) % 4) as usize,
            2 => 10_000 + (next(s) % 3) as usize - 1,
            3 => (next(s) % 20_000) as usize,
            4 => usize::MAX / 2 + (next(s) % 3) as usize,
            _ => next(s) as usize,
        }
    }

    #[test]
    fn property_ok_ranges_fit_and_errors_are_exactly_the_misfits() {
        let mut s = 7u64;
        for _ in 0..200_000 {
            let total = interesting(&mut s);
            let offset = interesting(&mut s);
            let count = if next(&mut s) % 4 == 0 { None } else { Some(interesting(&mut s)) };
            let fits = total > 0
                && offset < total
                && count.is_none_or(|c| c >= 1 && (offset as u128 + c as u128) <= total as u128);
            match range(total, offset, count, F) {
                Ok(r) => {
                    assert!(fits, "{total} {offset} {count:?} -> {r:?}");
                    assert_eq!(r.start, offset);
                    assert!(r.end <= total && !r.is_empty());
                    assert_eq!(r.len(), count.unwrap_or(total - offset));
                }
                Err(e) => {
                    assert!(!fits, "{total} {offset} {count:?} refused: {e}");
                    let msg = e.to_string();
                    assert!(msg.contains("--offset") || msg.contains("--subset"), "{msg}");
                }
            }
        }
    }

    #[test]
    fn messages_name_the_flag_and_the_limit() {
        let e = range(10_000, 1, Some(usize::MAX), F).unwrap_err().to_string();
        assert!(e.contains("--subset") && e.contains("at most 9999 from --offset 1"), "{e}");
        let e = range(100, 0, Some(0), F).unwrap_err().to_string();
        assert!(e.contains("must be at least 1"), "{e}");
        let e = range(100, 100, None, F).unwrap_err().to_string();
        assert!(e.contains("--offset = 100") && e.contains("past the end"), "{e}");
        let e = range(0, 0, None, F).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let e = first(1000, Some(1001), "--pgd-subset", "test set").unwrap_err().to_string();
        assert!(e.contains("--pgd-subset = 1001") && e.contains("at most 1000"), "{e}");
    }
}
