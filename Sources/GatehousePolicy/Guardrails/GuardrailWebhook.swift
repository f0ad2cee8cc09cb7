import GatehouseCore

/// An operator's own scanning service, for what rules cannot do: the texts are posted to it as
/// JSON and it says whether they are to be flagged. The front never opens the connection: the
/// service is an endpoint of the keyholder's own (its allowlist holds the configured URL and
/// nothing else), which adds the service's key when one is configured.
///
/// Request: `{"direction": "input"|"output", "policy": NAME, "model": MODEL, "texts": [...]}`.
/// Answer: `{"flagged": true|false, "type": "LABEL"}`, `type` optional; anything else, a status
/// outside 2xx, or no answer within the timeout is a failure, which refuses the request unless
/// the webhook is set to fail open.
public struct GuardrailWebhook: Sendable, Equatable {
    public var direction: GuardrailDirection
    public var url: String
    /// The sealed key sent as a bearer token, if the service takes one.
    public var keyName: String?
    /// What a flagged answer does: `block` or `flag`.
    public var action: GuardrailAction
    /// A failure refuses the request (the default) rather than letting it through, flagged.
    public var failsClosed: Bool
    public var timeout: Duration
    /// The keyholder's name for the service's endpoint.
    public var endpoint: String

    public init(
        direction: GuardrailDirection, url: String, keyName: String? = nil, action: GuardrailAction = .block,
        failsClosed: Bool = true, timeout: Duration = .seconds(1), endpoint: String
    ) {
        self.direction = direction
        self.url = url
        self.keyName = keyName
        self.action = action
        self.failsClosed = failsClosed
        self.timeout = timeout
        self.endpoint = endpoint
    }

    /// The keyholder endpoint's name for a policy's webhook in one direction.
    public static func endpointName(policy: String, direction: GuardrailDirection) -> String {
        "guardrail-webhook.\(policy).\(direction.rawValue)"
    }

    /// The rule a flagged answer is recorded under; `label`, the service's type, when it gave one.
    public func rule(label: String? = nil) -> GuardrailRule {
        GuardrailRule(kind: .webhook, action: action, label: label, scanner: NoScanner())
    }

    /// The rule a failure is recorded under: blocking when the webhook fails closed.
    public var failureRule: GuardrailRule {
        GuardrailRule(kind: .webhook, action: failsClosed ? .block : .flag, scanner: NoScanner())
    }

    public static func requestBody(
        direction: GuardrailDirection, policy: String, model: String, texts: [String]
    ) -> JSONValue {
        .object([
            "direction": .string(direction.rawValue), "policy": .string(policy), "model": .string(model),
            "texts": .array(texts.map(JSONValue.string)),
        ])
    }

    public struct Answer: Sendable, Equatable {
        public var flagged: Bool
        /// The service's type, when it is a short lower-case name (it is recorded in the audit log).
        public var label: String?

        public init(flagged: Bool, label: String?) {
            self.flagged = flagged
            self.label = label
        }
    }

    /// The service's answer; nil when it is not `{"flagged": BOOL, ...}`.
    public static func parse(_ text: String) -> Answer? {
        guard let value = JSONValue.parse(text), let flagged = value["flagged"]?.boolValue else { return nil }
        let label = value["type"]?.stringValue.flatMap { type -> String? in
            let allowed = type.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
            }
            return allowed && (1...32).contains(type.utf8.count) ? type : nil
        }
        return Answer(flagged: flagged, label: label)
    }
}
