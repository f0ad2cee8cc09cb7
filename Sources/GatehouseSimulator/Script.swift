/// A tool offered in a request: its name and the JSON schema of its arguments.
struct ToolSpec: Sendable {
    var name: String
    var schema: JSON?
}

/// Which tool, if any, the request asks the model to call.
enum ToolChoice: Sendable, Equatable {
    case auto
    case none
    case required
    /// Call one of these names (the first one that is offered).
    case named([String])
}

/// Everything a reply depends on, extracted from a request by one dialect.
struct ReplyInput: Sendable {
    var model: String
    /// Text of the last user message, text parts joined with one space.
    var echo = ""
    /// Image parts in the last user message.
    var images = 0
    var system: String?
    /// Text of the tool result(s) when the last message carries one.
    var toolResult: String?
    var tools: [ToolSpec] = []
    var toolChoice = ToolChoice.auto
    var wantsJSON = false
    var stopSequences: [String] = []
    var maxTokens: Int?
    /// Whitespace-separated words in all message text plus the system prompt.
    var promptWords = 0

    /// The prompt's size as reported in usage and checked against the context window.
    var promptTokens: Int { max(1, promptWords) }
}

/// The deterministic answer to a request, independent of any wire format.
struct ReplyPlan: Sendable {
    enum Finish: Sendable, Equatable {
        case endTurn
        case length
        case stopSequence(String)
        case toolCalls
    }

    struct ToolCall: Sendable {
        var name: String
        /// Always an object.
        var arguments: JSON
        var argumentsText: String { arguments.serialized() }
    }

    /// Empty when the reply is tool calls.
    var text: String
    var toolCalls: [ToolCall]
    var finish: Finish
    var promptTokens: Int
    var completionTokens: Int

    /// The text split for streaming; concatenated they equal ``text``.
    var textPieces: [String] { Script.pieces(of: text) }
}

/// Plans replies shared by every dialect (see docs/simulator.md, "Deterministic reply").
enum Script {
    static func plan(_ input: ReplyInput, replyWords: Int?) -> ReplyPlan {
        let promptTokens = input.promptTokens
        let calls = toolCalls(for: input)
        if !calls.isEmpty {
            return ReplyPlan(
                text: "", toolCalls: calls, finish: .toolCalls,
                promptTokens: promptTokens, completionTokens: 10 * calls.count)
        }
        var text = baseText(for: input)
        if !input.wantsJSON || input.toolResult != nil, let replyWords {
            text = padded(text, toWords: replyWords)
        }
        var finish = ReplyPlan.Finish.endTurn
        if let (cut, sequence) = cutAtStopSequence(text, input.stopSequences) {
            text = cut
            finish = .stopSequence(sequence)
        }
        if let limit = input.maxTokens {
            let pieces = pieces(of: text)
            if pieces.count > limit {
                text = pieces.prefix(max(0, limit)).joined()
                finish = .length
            }
        }
        return ReplyPlan(
            text: text, toolCalls: [], finish: finish,
            promptTokens: promptTokens, completionTokens: wordCount(text))
    }

    static func baseText(for input: ReplyInput) -> String {
        if let result = input.toolResult {
            return "sim:\(input.model) got tool result: \(result)"
        }
        if input.wantsJSON {
            let reply: JSON = ["model": .string(input.model), "echo": .string(input.echo)]
            return reply.serialized()
        }
        var text = "sim:\(input.model) says: \(input.echo)"
        if let system = input.system, !system.isEmpty {
            text += " [system: \(system)]"
        }
        if input.images > 0 {
            text += " [images: \(input.images)]"
        }
        return text
    }

    /// Appends ` w1`, ` w2`, … until `text` has `count` pieces.
    static func padded(_ text: String, toWords count: Int) -> String {
        var text = text
        var words = pieces(of: text).count
        var filler = 1
        while words < count {
            text += text.isEmpty ? "w\(filler)" : " w\(filler)"
            filler += 1
            words += 1
        }
        return text
    }

    /// Splits at spaces: each piece is a run of spaces followed by a run of non-spaces.
    static func pieces(of text: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        var inWord = false
        for character in text {
            if character == " " {
                if inWord {
                    pieces.append(current)
                    current = ""
                    inWord = false
                }
            } else {
                inWord = true
            }
            current.append(character)
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces
    }

    /// Words separated by whitespace (Unicode's White_Space). ASCII text is counted byte by
    /// byte: splitting a 100 KB prompt by Characters cost the simulator about 10 ms.
    static func wordCount(_ text: String) -> Int {
        var count = 0
        var inWord = false
        for byte in text.utf8 {
            guard byte < 0x80 else { return text.split(whereSeparator: \.isWhitespace).count }
            if byte == 0x20 || (0x09...0x0D).contains(byte) {
                inWord = false
            } else if !inWord {
                inWord = true
                count += 1
            }
        }
        return count
    }

    /// Cuts `text` before the earliest occurrence of any non-empty stop sequence.
    static func cutAtStopSequence(_ text: String, _ sequences: [String]) -> (String, String)? {
        var best: (range: Range<String.Index>, sequence: String)?
        for sequence in sequences where !sequence.isEmpty {
            guard let range = text.firstRange(of: sequence) else { continue }
            if best.map({ range.lowerBound < $0.range.lowerBound }) ?? true {
                best = (range, sequence)
            }
        }
        guard let best else { return nil }
        return (String(text[..<best.range.lowerBound]), best.sequence)
    }

    /// Splits a JSON argument string into 2–3 fragments for streaming.
    static func fragments(of text: String) -> [String] {
        let characters = Array(text)
        let parts = characters.count >= 6 ? 3 : 2
        guard characters.count >= parts else { return [text] }
        var fragments: [String] = []
        var start = 0
        for part in 1...parts {
            let end = part == parts ? characters.count : characters.count * part / parts
            fragments.append(String(characters[start..<end]))
            start = end
        }
        return fragments
    }
}

extension Script {
    static func toolCalls(for input: ReplyInput) -> [ReplyPlan.ToolCall] {
        guard !input.tools.isEmpty, input.toolResult == nil, input.toolChoice != .none else { return [] }
        let chosen: [ToolSpec]
        if case .named(let names) = input.toolChoice {
            let forced = names.lazy.compactMap { name in input.tools.first { $0.name == name } }.first
            chosen = [forced ?? input.tools[0]]
        } else if input.echo.contains("sim:parallel"), input.tools.count >= 2 {
            chosen = Array(input.tools.prefix(2))
        } else {
            chosen = [input.tools[0]]
        }
        return chosen.map { ReplyPlan.ToolCall(name: $0.name, arguments: arguments(for: $0.schema)) }
    }

    /// An object holding every `required` property, filled by its declared type.
    static func arguments(for schema: JSON?) -> JSON {
        guard let schema else { return .object([]) }
        let required = schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let properties = schema["properties"]
        return .object(required.map { name in (key: name, value: value(for: properties?[name])) })
    }

    private static func value(for property: JSON?) -> JSON {
        guard let property else { return "sim" }
        if let first = property["enum"]?.arrayValue?.first { return first }
        var type = property["type"]?.stringValue
        if type == nil, let types = property["type"]?.arrayValue {
            type = types.compactMap(\.stringValue).first { $0.lowercased() != "null" }
        }
        if type == nil, let branch = (property["anyOf"] ?? property["oneOf"])?.arrayValue?.first {
            return value(for: branch)
        }
        switch type?.lowercased() {
        case "integer", "number": return 1
        case "boolean": return true
        case "array": return []
        case "object": return .object([])
        case "null": return .null
        default: return "sim"
        }
    }
}
