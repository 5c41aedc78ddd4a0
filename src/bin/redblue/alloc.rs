//! Allocator settings for the attack and training loops.
//!
//! Those loops allocate and free buffers of a few MiB per batch. glibc serves such sizes with
//! a fresh `mmap` each time and trims freed heap memory back to the OS, so every batch paid
//! for page faults and zeroing (about a tenth of FGSM-sweep time). Raising the mmap and trim
//! thresholds keeps those buffers in the heap for reuse; peak memory stays the same.

/// Applies the settings; call once at start-up, before any thread is spawned.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune() {
    // SAFETY: `mallopt` only changes allocator parameters and is called before other threads
    // exist; a rejected value leaves glibc's default in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}

/// Other platforms keep their allocator's defaults.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune() {}
