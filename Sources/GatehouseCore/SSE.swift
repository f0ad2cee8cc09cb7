import NIOCore

/// One server-sent event.
public struct SSEEvent: Sendable, Equatable {
    public var event: String?
    public var data: String

    public init(event: String? = nil, data: String) {
        self.event = event
        self.data = data
    }

    /// The wire form: `event:` line if named, `data:` lines, blank line.
    public func encoded() -> String {
        var text = ""
        if let event { text += "event: \(event)\n" }
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) {
            text += "data: \(line)\n"
        }
        return text + "\n"
    }
}

/// An incremental parser of `text/event-stream` bytes (WHATWG rules for `event`,
/// `data`, comments and CR/LF/CRLF line ends). Feed it chunks as they arrive.
/// It also returns each event's raw bytes so a pass-through can forward them unchanged.
public struct SSEParser: Sendable {
    private var buffer: [UInt8] = []
    private var eventName: String?
    private var dataLines: [String] = []
    private var rawEvent: [UInt8] = []
    private var sawCR = false
    /// Refuses an event larger than this, so a hostile upstream cannot exhaust memory.
    public let maxEventBytes: Int

    public init(maxEventBytes: Int = 8 << 20) {
        self.maxEventBytes = maxEventBytes
    }

    public struct Parsed: Sendable {
        public var event: SSEEvent
        /// The bytes of the event as received, including its terminating blank line.
        public var raw: [UInt8]
    }

    public struct EventTooLarge: Error {}

    /// Consumes a chunk and returns the events it completed.
    public mutating func feed(_ chunk: ByteBuffer) throws -> [Parsed] {
        var events: [Parsed] = []
        for byte in chunk.readableBytesView {
            if sawCR {
                sawCR = false
                if byte == UInt8(ascii: "\n") {
                    rawEvent.append(byte)
                    continue
                }
            }
            rawEvent.append(byte)
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                sawCR = byte == UInt8(ascii: "\r")
                if let event = processLine() { events.append(event) }
                buffer.removeAll(keepingCapacity: true)
            } else {
                buffer.append(byte)
                if rawEvent.count > maxEventBytes { throw EventTooLarge() }
            }
        }
        return events
    }

    /// Flushes a final event that was not followed by a blank line.
    public mutating func finish() -> [Parsed] {
        if !buffer.isEmpty, let event = processLine() { return [event] }
        if !buffer.isEmpty || !dataLines.isEmpty {
            buffer.removeAll()
            if let event = processLine() { return [event] }
        }
        return []
    }

    private mutating func processLine() -> Parsed? {
        if buffer.isEmpty {
            defer {
                eventName = nil
                dataLines.removeAll()
                rawEvent.removeAll(keepingCapacity: true)
            }
            guard !dataLines.isEmpty else { return nil }
            return Parsed(event: SSEEvent(event: eventName, data: dataLines.joined(separator: "\n")), raw: rawEvent)
        }
        if buffer.first == UInt8(ascii: ":") { return nil }
        let line = String(decoding: buffer, as: UTF8.self)
        let field: Substring
        var value: Substring
        if let colon = line.firstIndex(of: ":") {
            field = line[..<colon]
            value = line[line.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
        } else {
            field = Substring(line)
            value = ""
        }
        switch field {
        case "event": eventName = String(value)
        case "data": dataLines.append(String(value))
        default: break
        }
        return nil
    }
}
