/// jemalloc instead of glibc's allocator. A plan of a large tenant is millions of small
/// allocations (ids, names, field values): jemalloc's size classes carry no per-allocation
/// header, one arena (`narenas:1`) reuses what the tenant read freed, and freed pages go
/// back to the system at once (`dirty_decay_ms:0`). Measured by `bench/scale.sh`: a
/// 100,000-user plan peaks at about 142 MB, against 154 MB with glibc.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options (read by jemalloc at start; `_RJEM_MALLOC_CONF` can still override).
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"narenas:1,dirty_decay_ms:0,muzzy_decay_ms:0\0";

fn main() {
    std::process::exit(closeout::cli::run());
}
