import CGatehouseSandbox

/// Allocator settings for every gatehouse process, applied before `main` (in CGatehouseSandbox,
/// so that no thread has an arena yet: set later, they changed nothing measurable).
///
/// glibc raises its mmap threshold each time a large block is freed, so after a burst of large
/// prompts their buffers come from the heap arenas and the memory stays with the process.
/// Fixing the threshold at 64 KiB (large buffers are mapped, and unmapped when freed), trimming
/// the heap above 128 KiB, and using at most two arenas kept the gateway's memory after a burst
/// of 100 KB prompts and 256 streams at about 140 MB summed over its processes, against about
/// 190 MB with glibc's defaults, at the same CPU per request (bench/results, issue 5 notes).
enum MemoryTuning {
    /// Whether the settings are in force (this reference also keeps them linked in).
    static func apply() {
        _ = gatehouse_malloc_tuned()
    }
}
