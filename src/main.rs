/// jemalloc instead of glibc's allocator. A plan of a large tenant is millions of small
/// allocations (ids, names, field values): jemalloc's size classes carry no per-allocation
/// header, one arena (`narenas:1`) reuses what the tenant read freed, and freed pages go
/// back to the system at once (`dirty_decay_ms:0`). Measured by `bench/scale.sh`: a
/// 100,000-user plan peaks at about 142 MB, against 154 MB with glibc.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options (read by jemalloc at start; `_RJEM_MALLOC_CONF` can still override).
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"narenas:1,dirty_decay_ms:0,muzzy_decay_ms:0\0";

/// Sets how soon jemalloc returns freed pages to the system: at once for the commands
/// whose peak memory counts, after seconds for those that read a plan file on several
/// threads (each return is a TLB flush on every core: `closeout show` of a 100,000-user
/// plan spends a third of its system time on them, for about 4 MB less at its peak).
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
fn tune(use_: closeout::cli::MemoryUse) {
    let mut ms: isize = match use_ {
        closeout::cli::MemoryUse::Peak => return,
        closeout::cli::MemoryUse::Throughput => 5000,
    };
    for name in [c"arena.0.dirty_decay_ms", c"arena.0.muzzy_decay_ms"] {
        // SAFETY: a documented mallctl name of jemalloc's one arena (`narenas:1`), whose
        // value is an ssize_t; no old value is read.
        let _ = unsafe {
            tikv_jemalloc_sys::mallctl(
                name.as_ptr(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                (&mut ms as *mut isize).cast(),
                std::mem::size_of::<isize>(),
            )
        };
    }
}

#[cfg(not(all(feature = "jemalloc", not(target_env = "msvc"))))]
fn tune(_: closeout::cli::MemoryUse) {}

fn main() {
    std::process::exit(closeout::cli::run_tuned(&tune));
}
