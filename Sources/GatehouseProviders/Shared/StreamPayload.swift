import GatehouseCore

/// Parsing shared by the stream decoders of JSON-per-event formats.
enum StreamPayload {
    /// The event's JSON, or a gateway error naming a malformed event. An in-band
    /// `{"error":{…}}` object (OpenAI and Gemini style) is mapped and thrown.
    static func decode(_ event: SSEEvent, provider: String, checkInBandError: Bool = true) throws -> JSONValue {
        let payload: JSONValue
        do {
            payload = try JSONValue.decode(.init(string: event.data))
        } catch {
            throw GatewayError(.upstreamFailure, "The provider sent a malformed stream event.", code: .upstreamMalformed)
        }
        if checkInBandError, let error = payload["error"], error.objectValue != nil {
            throw UpstreamErrorMapping.map(
                status: error["code"]?.intValue ?? 500, retryAfter: nil, upstreamMessage: error["message"]?.stringValue,
                provider: provider)
        }
        return payload
    }
}
