// Development values, committed. scripts/release rewrites this file in its own clean copy of the commit being
// released (commit id, and the commit's time as the build date, for reproducible builds); never commit that copy.

/// Where and when this binary was built.
enum BuildInfo {
    /// The git commit the binary was built from; nil for a development build.
    static let commit: String? = nil
    /// The build date, ISO 8601 UTC (`SOURCE_DATE_EPOCH`); nil for a development build.
    static let date: String? = nil
}
