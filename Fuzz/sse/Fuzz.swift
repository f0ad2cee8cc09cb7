import GatehouseCore
import NIOCore

/// The server-sent-events parser (every provider stream) against the WHATWG algorithm as the
/// specification writes it (an independent, slow implementation below), fed in two chunks split
/// where the input's first byte says: the same events, whatever the split. Nothing crashes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSSE(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let split = Int(data[0]) % size
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let whole = events(feeding: [bytes[...]])
    let halves = events(feeding: [bytes[..<min(split, bytes.count)], bytes[min(split, bytes.count)...]])
    check(whole == halves, "the events depend on where the stream was cut")
    if let whole, let text = String(validating: bytes, as: UTF8.self) {
        check(whole == WHATWG.events(text), "the parser and the specification disagree")
    }
    return 0
}

/// (event, data) pairs, or nil when the parser refused the stream (an event over its size limit).
func events(feeding chunks: [ArraySlice<UInt8>]) -> [SSEEvent]? {
    var parser = SSEParser(maxEventBytes: 1 << 16)
    var out: [SSEEvent] = []
    do {
        for chunk in chunks { out += try parser.feed(ByteBuffer(bytes: chunk)).map(\.event) }
    } catch {
        return nil
    }
    out += parser.finish().map(\.event)
    return out
}

/// https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation,
/// step by step: lines end at CRLF, LF or CR; a blank line dispatches; a line starting with a
/// colon is a comment; otherwise the field name runs to the first colon, and one space after it
/// is dropped. `data` appends the value and a line feed; `event` sets the type; an event with an
/// empty data buffer is not dispatched; the last line feed of the data is removed. A stream that
/// ends without a blank line dispatches what it holds (as this gateway's parser does at its end,
/// where a browser would drop it: the gateway must not lose a provider's last event).
enum WHATWG {
    static func events(_ text: String) -> [SSEEvent] {
        var events: [SSEEvent] = []
        var type = ""
        var data = ""
        var scalars = Array(text.unicodeScalars)
        if scalars.first == "\u{FEFF}" { scalars.removeFirst() }
        // Lines as scalars: the spec works on code points (Swift's Characters would join a
        // combining mark to the colon or the space before it).
        var lines: [[Unicode.Scalar]] = []
        var line: [Unicode.Scalar] = []
        var i = 0
        var ended = true
        while i < scalars.count {
            let c = scalars[i]
            if c == "\r" || c == "\n" {
                lines.append(line)
                line = []
                if c == "\r", i + 1 < scalars.count, scalars[i + 1] == "\n" { i += 1 }
                ended = true
            } else {
                line.append(c)
                ended = false
            }
            i += 1
        }
        if !ended { lines.append(line) }
        func dispatch() {
            defer { (type, data) = ("", "") }
            guard !data.isEmpty else { return }
            if data.hasSuffix("\n") { data.removeLast() }
            events.append(SSEEvent(event: type.isEmpty ? nil : type, data: data))
        }
        func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars)
            return String(view)
        }
        for line in lines {
            if line.isEmpty {
                dispatch()
                continue
            }
            if line.first == ":" { continue }
            var field = string(line[...])
            var value = ""
            if let colon = line.firstIndex(of: ":") {
                field = string(line[..<colon])
                var rest = line[(colon + 1)...]
                if rest.first == " " { rest = rest.dropFirst() }
                value = string(rest)
            }
            switch field {
            case "data": data += value + "\n"
            case "event": type = value
            default: break
            }
        }
        dispatch()
        return events
    }
}

/// A property that must hold; fatalError keeps its message in a release build (precondition's does not).
func check(_ condition: @autoclosure () -> Bool, _ message: String) {
    if !condition() { fatalError(message) }
}
