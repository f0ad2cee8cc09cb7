import Hummingbird

/// One event of a streamed reply.
struct StreamEvent: Sendable {
    /// The SSE `event:` name, if the dialect names its events.
    var name: String?
    var data: String
    /// Whether the event carries reply content (a text piece, tool call or argument fragment).
    var carriesContent: Bool

    init(name: String? = nil, _ data: JSON, carriesContent: Bool = false) {
        self.name = name
        self.data = data.serialized()
        self.carriesContent = carriesContent
    }

    init(name: String? = nil, rawData: String) {
        self.name = name
        self.data = rawData
        self.carriesContent = false
    }
}

/// How events are framed on the wire.
enum StreamFraming: Sendable {
    /// `event: name` (when named) and `data: json`, each line ended by `lineEnding`, then a blank line.
    case serverSentEvents(lineEnding: String)
    /// A JSON array written element by element (Gemini without `alt=sse`).
    case jsonArray
}

/// Writes a planned stream with time-to-first-token, pacing and stream faults.
struct EventStream: Sendable {
    var events: [StreamEvent]
    var framing: StreamFraming
    /// The event written by the `malformed` fault.
    var malformedEvent: StreamEvent
    var fault: SimulatorFault?
    /// Content events sent before the `reset` fault drops the connection.
    var resetAfterEvents: Int
    var timeToFirstToken: Duration
    var tokensPerSecond: Double

    func response() -> Response {
        var headers = HTTPFields()
        switch framing {
        case .serverSentEvents: headers[.contentType] = "text/event-stream"
        case .jsonArray: headers[.contentType] = "application/json"
        }
        headers[.cacheControl] = "no-cache"
        let stream = self
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                try await stream.write(to: &writer)
            })
    }

    /// How many events come up to and including the `count`th content event (all up to the last content
    /// event when there are fewer); with `count` 0, how many precede the first content event.
    private func eventCount(throughContentEvent count: Int) -> Int {
        let contentIndices = events.indices.filter { events[$0].carriesContent }
        if count <= 0 { return contentIndices.first ?? 0 }
        guard let last = contentIndices.last else { return min(1, events.count) }
        return (count <= contentIndices.count ? contentIndices[count - 1] : last) + 1
    }

    private func write(to writer: inout any ResponseBodyWriter) async throws {
        if timeToFirstToken > .zero {
            try await Task.sleep(for: timeToFirstToken)
        }
        let interval: Duration? = tokensPerSecond > 0 ? .nanoseconds(Int64(1e9 / tokensPerSecond)) : nil
        // The connection drops, or the malformed event goes, after this many events.
        let resetPoint = fault == .reset ? eventCount(throughContentEvent: resetAfterEvents) : nil
        let malformedPoint = fault == .malformed ? eventCount(throughContentEvent: 2) : nil
        var contentSent = 0
        var written = 0
        for (index, event) in events.enumerated() {
            if index == resetPoint { throw SimulatedConnectionReset() }
            if index == malformedPoint {
                try await writer.write(ByteBuffer(string: frame(malformedEvent, position: written)))
                written += 1
            }
            if event.carriesContent {
                if contentSent > 0, let interval { try await Task.sleep(for: interval) }
                contentSent += 1
            }
            try await writer.write(ByteBuffer(string: frame(event, position: written)))
            written += 1
        }
        if resetPoint != nil { throw SimulatedConnectionReset() }
        if malformedPoint == events.count {
            try await writer.write(ByteBuffer(string: frame(malformedEvent, position: written)))
            written += 1
        }
        if case .jsonArray = framing {
            try await writer.write(ByteBuffer(string: written == 0 ? "[]" : "]"))
        }
        try await writer.finish(nil)
    }

    private func frame(_ event: StreamEvent, position: Int) -> String {
        switch framing {
        case .serverSentEvents(let lineEnding):
            let name = event.name.map { "event: \($0)\(lineEnding)" } ?? ""
            return "\(name)data: \(event.data)\(lineEnding)\(lineEnding)"
        case .jsonArray:
            return (position == 0 ? "[" : ",\r\n") + event.data
        }
    }
}
