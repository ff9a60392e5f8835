//! The process allocator's settings (mimalloc, the `#[global_allocator]` in `main.rs`).

/// Index of `mi_option_purge_delay` in mimalloc's `mi_option_e` (mimalloc.h, v2 and v3; not
/// exported by `libmimalloc-sys`). A test checks it against the `MIMALLOC_PURGE_DELAY`
/// variable, which mimalloc reads into that option.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The inventory's delay: freed memory goes back to the system after 100 ms instead of
/// mimalloc v3's default 1 s. Without it, peak RSS grew with the size of the files (freed
/// buffers of big files waited to be returned while new ones were taken): 10,000 files of
/// 53 KB took 10 to 17 MiB more than 10,000 files of 1.4 KB, with the same live data.
/// BENCHMARKS.md, "Inventory", has the figures.
pub const INVENTORY_PURGE_DELAY_MS: i64 = 100;

/// Return freed memory to the system `ms` milliseconds after it is freed (0: at once).
pub fn purge_freed_memory_after(ms: i64) {
    // SAFETY: setting an option is a plain store into mimalloc's option table; any value is
    // valid for this option.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ms as _) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purge_delay_ms() -> i64 {
        // SAFETY: reading an option has no precondition.
        unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) as i64 }
    }

    /// This test binary runs itself with `MIMALLOC_PURGE_DELAY` set: the option at our index
    /// must read back that value (so the index names the purge delay), and setting it must
    /// stick.
    #[test]
    fn the_index_is_mimallocs_purge_delay() {
        if let Ok(v) = std::env::var("CHIMERA_ALLOC_CHILD") {
            assert_eq!(purge_delay_ms(), v.parse::<i64>().unwrap(), "option 15 is not the purge delay");
            purge_freed_memory_after(INVENTORY_PURGE_DELAY_MS);
            assert_eq!(purge_delay_ms(), INVENTORY_PURGE_DELAY_MS);
            return;
        }
        for v in ["4321", "77"] {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "alloc::tests::the_index_is_mimallocs_purge_delay", "--nocapture"])
                .env("MIMALLOC_PURGE_DELAY", v)
                .env("CHIMERA_ALLOC_CHILD", v)
                .output()
                .unwrap();
            assert!(
                out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
                "child with MIMALLOC_PURGE_DELAY={v}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
