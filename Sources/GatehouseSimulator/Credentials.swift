import Hummingbird

/// Checks the fake API key each dialect presents.
///
/// The simulator only compares keys; it never logs, stores or echoes them.
struct Credentials: Sendable {
    let acceptedKeys: [String]

    /// nil when the request carries an acceptable key, else the 401 to send.
    func check(_ request: Request, dialect: Dialect) -> SimulatedError? {
        guard let key = presentedKey(request, dialect: dialect), !key.isEmpty else {
            return .authentication(missingMessage(dialect))
        }
        guard acceptedKeys.isEmpty || acceptedKeys.contains(where: { Self.equal($0, key) }) else {
            return .authentication("Incorrect API key provided.")
        }
        return nil
    }

    private func presentedKey(_ request: Request, dialect: Dialect) -> String? {
        switch dialect {
        case .openAI:
            return bearerToken(request)
        case .anthropic:
            // Recent anthropic SDKs send the API key as a bearer token instead of x-api-key.
            return request.header("x-api-key") ?? bearerToken(request)
        case .gemini:
            return request.header("x-goog-api-key") ?? request.queryValue("key")
        }
    }

    private func bearerToken(_ request: Request) -> String? {
        guard let authorization = request.header("authorization"),
            authorization.prefix(7).lowercased() == "bearer "
        else { return nil }
        return authorization.dropFirst(7).trimmingWhitespace()
    }

    private func missingMessage(_ dialect: Dialect) -> String {
        switch dialect {
        case .openAI: "You didn't provide an API key. Send it as 'Authorization: Bearer KEY'."
        case .anthropic: "x-api-key header is required"
        case .gemini: "Method doesn't allow unregistered callers. Send the key in 'x-goog-api-key' or '?key='."
        }
    }

    /// Compares without stopping at the first differing byte.
    private static func equal(_ lhs: String, _ rhs: String) -> Bool {
        let left = Array(lhs.utf8)
        let right = Array(rhs.utf8)
        var difference = UInt8(left.count == right.count ? 0 : 1)
        for index in 0..<max(left.count, right.count) {
            let a = index < left.count ? left[index] : 0
            let b = index < right.count ? right[index] : 0
            difference |= a ^ b
        }
        return difference == 0
    }
}
