//! The process allocator: mimalloc (the `#[global_allocator]` in `main.rs`) and its one setting.
//!
//! Why mimalloc and why this setting, with the figures (BENCHMARKS.md, "Inventory (issue 14)",
//! "The allocator"): with glibc's malloc, `chimera inventory` on 100,000 files took 2.7 s and
//! 233 MiB, over both targets (≤ 2 s, ≤ 200 MB); mimalloc takes 1.5–1.7 s. mimalloc v3 keeps
//! freed memory for 1 s before returning it, so its peak grew with the size of the files
//! (+25 % at 10x contents with the same live data) and reached 194–205 MiB at 100,000 files;
//! returning freed memory at once keeps the peak flat (+4 %) and at 171 MiB, for +10 % wall.
//! The setting is the whole process's (every command), set once at start.

/// Index of `mi_option_purge_delay` in mimalloc's `mi_option_e` (`mimalloc.h` of v2 and v3;
/// `libmimalloc-sys` does not export it). A test checks it against the `MIMALLOC_PURGE_DELAY`
/// environment variable, which mimalloc reads into that option.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Return freed memory to the system at once (mimalloc's purge delay 0), unless the user set
/// `MIMALLOC_PURGE_DELAY` themselves.
pub fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        set_purge_delay_ms(0);
    }
}

fn set_purge_delay_ms(ms: i64) {
    // SAFETY: setting an option is a store into mimalloc's option table; every value is valid
    // for this option (0 = at once, -1 = never, N = after N ms).
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
    /// must read back that value (so the index names the purge delay), `configure` must leave
    /// the user's value alone, and setting it must stick.
    #[test]
    fn the_index_is_mimallocs_purge_delay() {
        if let Ok(v) = std::env::var("CHIMERA_ALLOC_CHILD") {
            let want: i64 = v.parse().unwrap();
            assert_eq!(purge_delay_ms(), want, "option 15 is not the purge delay");
            configure();
            assert_eq!(purge_delay_ms(), want, "configure() overrode MIMALLOC_PURGE_DELAY");
            set_purge_delay_ms(0);
            assert_eq!(purge_delay_ms(), 0);
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
