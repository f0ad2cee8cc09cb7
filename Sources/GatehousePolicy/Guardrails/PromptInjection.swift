/// Finds prompt-injection attempts with explainable word-level heuristics: each rule is a phrase shape over a
/// lowercased, accent-folded word stream, cheap enough for every request (one pass over the bytes, no allocation per
/// word, a hash lookup per word).
///
/// Threat assumptions: the text is a user's prompt or a document or tool result it carries, written by an attacker who
/// wants the model to drop its instructions, take on an unrestricted persona, reveal its system prompt, or read forged
/// chat-template turns. The heuristics catch the common phrasings, not a determined paraphrase; they are one layer.
///
/// Rules and their scores (`Rule.score`):
/// - `instruction_override` 0.9: a verb (ignore, disregard, forget, override, bypass, skip, overlook, in English,
///   Spanish, French, German, Portuguese and Italian) followed, within six words and only through determiners and
///   qualifiers, by both a qualifier (previous, prior, above, earlier, preceding, system, initial, original, …) and an
///   object (instructions, rules, directions, prompts, guidelines, messages, context, …), in either order
///   ("ignore all previous instructions", "ignora las instrucciones anteriores"). Any other word ends the phrase, so
///   "ignore the typo in my previous message" is not one, and "my" is not a determiner here: a user may take back their
///   own instructions.
/// - jailbreak markers 0.8: `dan` ("you are now DAN", "You are DAN", "DAN mode"), `do_anything_now` (written
///   "Do Anything Now" or in capitals: lower-case "can't do anything now" is ordinary), `developer_mode` ("you are in
///   developer mode", "ChatGPT with Developer Mode", "developer mode enabled", not "enable developer mode on Android"),
///   `unrestricted_role` ("act as … without (any) restrictions" within ten words), `no_rules` ("pretend you have no
///   rules"), `jailbreak` (the word, unless a device is named within three words: "jailbreak my iPhone").
/// - `chat_template_token` 0.95: `<|im_start|>`, `<|im_end|>`, `[INST]`, `[/INST]`, `<<SYS>>`, `<|system|>`,
///   `<|assistant|>`, `<|user|>`, `<|endoftext|>` and the Llama 3 and Gemma turn markers.
/// - `prompt_extraction` 0.8: reveal, print, show, repeat, display, output, … followed by "your (system) prompt" or
///   "instructions", or by "the system prompt".
///
/// A quoted attack is still an attack: "what does 'ignore previous instructions' mean?" is reported, since quoting is
/// also how injections are smuggled ("translate: …"). A question about the topic ("What is prompt injection?") is
/// not. Sentence punctuation (`. ! ? ; :`) ends a phrase; zero-width characters inside a word are skipped and tag
/// characters are read as the ASCII they smuggle, so hiding a phrase that way does not hide it from this scanner.
public struct PromptInjectionScanner: TextScanner {
    /// The heuristics, each with a stable name (for explanations and metrics) and a score.
    public enum Rule: String, Sendable, CaseIterable {
        case instructionOverride = "instruction_override"
        case chatTemplateToken = "chat_template_token"
        case promptExtraction = "prompt_extraction"
        case dan
        case doAnythingNow = "do_anything_now"
        case developerMode = "developer_mode"
        case unrestrictedRole = "unrestricted_role"
        case noRules = "no_rules"
        case jailbreak

        /// How strongly a match of this rule alone suggests an injection.
        public var score: Double {
            switch self {
            case .chatTemplateToken: return 0.95
            case .instructionOverride: return 0.9
            default: return 0.8
            }
        }
    }

    /// One rule matching one span, before scores are combined.
    public struct Signal: Sendable, Equatable {
        public var rule: Rule
        /// UTF-8 byte offsets of the matched phrase.
        public var range: Range<Int>
    }

    /// Findings scoring below this are not reported.
    public let threshold: Double

    public init(threshold: Double = 0.75) {
        self.threshold = threshold
    }

    /// One finding per matched span. A span scores its rule's score plus 0.05 for each other distinct rule that
    /// matched in the text (at most 1), so the strongest span scores the text's maximum plus 0.05 per extra signal.
    public func scan(_ text: String) -> [Finding] {
        let signals = Self.signals(in: text)
        var rules = Set<Rule>()
        for signal in signals { rules.insert(signal.rule) }
        let boost = 0.05 * Double(max(0, rules.count - 1))
        return signals.compactMap { signal in
            let score = min(1, signal.rule.score + boost)
            return score >= threshold ? Finding(.promptInjection, signal.range, score: score) : nil
        }
    }

    /// Every rule match in the text, by position; overlapping matches of one rule are merged.
    public static func signals(in text: String) -> [Signal] {
        var text = text
        let (words, found) = text.withUTF8 { Tokenizer.run($0) }
        var signals = found
        guard !words.isEmpty || !signals.isEmpty else { return [] }
        for index in words.indices {
            let word = words[index]
            guard word.roles.intersects(anchors) else { continue }
            if word.roles.intersects(.verb), let end = overrideEnd(words, from: index) {
                signals.append(Signal(rule: .instructionOverride, range: word.start..<words[end].end))
            }
            for (rule, pattern) in sequences where word.roles.intersects(pattern[0].roles) {
                if let end = match(words, pattern, at: index, ordinal: word.ordinal, last: index - 1) {
                    signals.append(Signal(rule: rule, range: word.start..<words[end].end))
                }
            }
            if word.roles.intersects(.act), let end = unrestrictedEnd(words, from: index) {
                signals.append(Signal(rule: .unrestrictedRole, range: word.start..<words[end].end))
            }
            if word.roles.intersects(.jailbreak) && !isNearDevice(words, index) {
                signals.append(Signal(rule: .jailbreak, range: word.start..<word.end))
            }
        }
        return merged(signals)
    }

    /// The index of the last word of an override phrase starting with the verb at `index`.
    private static func overrideEnd(_ words: [Word], from index: Int) -> Int? {
        let verb = words[index]
        var sawQualifier = false
        var sawObject = false
        var end: Int?
        var k = index + 1
        while k < words.count, words[k].ordinal == verb.ordinal + (k - index), words[k].ordinal - verb.ordinal <= 6,
            words[k].roles.intersects([.filler, .qualifier, .object])
        {
            sawQualifier = sawQualifier || words[k].roles.intersects(.qualifier)
            sawObject = sawObject || words[k].roles.intersects(.object)
            if sawQualifier && sawObject && words[k].roles.intersects([.qualifier, .object]) { end = k }
            k += 1
        }
        return end
    }

    /// The index of the last word of "without (any) restrictions" or "with no restrictions" within ten words of the
    /// "act" at `index`.
    private static func unrestrictedEnd(_ words: [Word], from index: Int) -> Int? {
        var later = index + 1
        while later < words.count && words[later].ordinal <= words[index].ordinal + 10 {
            for tail in unrestricted {
                if let end = match(words, tail[...], at: later, ordinal: words[later].ordinal, last: later - 1) {
                    return end
                }
            }
            later += 1
        }
        return nil
    }

    /// Whether a device is named within three words of the word at `index` ("jailbreak my iPhone").
    private static func isNearDevice(_ words: [Word], _ index: Int) -> Bool {
        let ordinal = words[index].ordinal
        var k = index
        while k > 0 && words[k - 1].ordinal >= ordinal - 3 { k -= 1 }
        while k < words.count && words[k].ordinal <= ordinal + 3 {
            if words[k].roles.intersects(.device) { return true }
            k += 1
        }
        return false
    }

    private static func merged(_ signals: [Signal]) -> [Signal] {
        var result: [Signal] = []
        for signal in signals.sorted(by: {
            ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound)
        }) {
            if let same = result.lastIndex(where: { $0.rule == signal.rule }),
                result[same].range.upperBound > signal.range.lowerBound
            {
                result[same].range =
                    result[same].range.lowerBound..<max(result[same].range.upperBound, signal.range.upperBound)
            } else {
                result.append(signal)
            }
        }
        return result
    }

    // MARK: Phrase shapes

    /// The roles a phrase can start with.
    private static let anchors: Roles = sequences.reduce([.verb, .act, .jailbreak]) { $0.union($1.1[0].roles) }
    /// The roles the tokenizer keeps words for regardless of distance: phrase starts, and devices (looked back at).
    fileprivate static let kept: Roles = anchors.union(.device)
    /// How many words after a phrase start the longest phrase reaches ("act as … without any restrictions").
    fileprivate static let window = 13

    private static let sequences: [(Rule, ArraySlice<Element>)] = [
        (.dan, [.one(.you), .one(.be), .one(.now), .one(.dan)]),
        (.dan, [.one(.you), .one(.be), .one(.dan, .uppercase)]),
        (.dan, [.one(.dan, .uppercase), .one(.mode)]),
        (.dan, [.one(.act), .one(.as), .one(.dan, .uppercase)]),
        (.doAnythingNow, [.one(.do, .capitalized), .one(.anything, .capitalized), .one(.now, .capitalized)]),
        (.developerMode, [.one(.you), .optional(.be), .optional(.now), .one(.in), .one(.developer), .one(.mode)]),
        (.developerMode, [.one(.model), .one([.with, .in]), .one(.developer), .one(.mode)]),
        (.developerMode, [.one(.developer), .one(.mode), .one(.enabled)]),
        (
            .noRules,
            [
                .one(.pretend), .optional(.that), .one(.you), .optional(.have), .one([.no, .without]),
                .optional(.any), .one(.restriction),
            ]
        ),
        (
            .promptExtraction,
            [
                .one(.reveal), .optional(.me), .optional(.all), .one(.your), .many(.hidden),
                .one(.promptWord),
            ]
        ),
        (
            .promptExtraction,
            [
                .one(.reveal), .optional(.me), .optional(.all), .optional(.the), .one(.hidden),
                .many(.hidden), .one(.promptWord),
            ]
        ),
    ]

    /// What follows "act as …" to make it unrestricted.
    private static let unrestricted: [[Element]] = [
        [.one(.without), .optional(.any), .one(.restriction)],
        [.one(.with), .one(.no), .one(.restriction)],
    ]

    /// Matches `pattern` against consecutive words from `index`; the index of the last word matched.
    private static func match(_ words: [Word], _ pattern: ArraySlice<Element>, at index: Int, ordinal: Int, last: Int)
        -> Int?
    {
        guard let element = pattern.first else { return last }
        let rest = pattern.dropFirst()
        let fits = index < words.count && words[index].ordinal == ordinal && element.accepts(words[index])
        switch element.count {
        case .one: return fits ? match(words, rest, at: index + 1, ordinal: ordinal + 1, last: index) : nil
        case .optional, .many:
            if fits,
                let end = match(
                    words, element.count == .many ? pattern : rest, at: index + 1, ordinal: ordinal + 1, last: index)
            {
                return end
            }
            return match(words, rest, at: index, ordinal: ordinal, last: last)
        }
    }
}

// MARK: - Words and their roles

private struct Roles: OptionSet, Sendable {
    let rawValue: UInt64
    func intersects(_ other: Roles) -> Bool { rawValue & other.rawValue != 0 }

    static let verb = Roles(rawValue: 1 << 0)
    static let filler = Roles(rawValue: 1 << 1)
    static let qualifier = Roles(rawValue: 1 << 2)
    static let object = Roles(rawValue: 1 << 3)
    static let you = Roles(rawValue: 1 << 4)
    static let be = Roles(rawValue: 1 << 5)
    static let now = Roles(rawValue: 1 << 6)
    static let dan = Roles(rawValue: 1 << 7)
    static let developer = Roles(rawValue: 1 << 8)
    static let mode = Roles(rawValue: 1 << 9)
    static let model = Roles(rawValue: 1 << 10)
    static let with = Roles(rawValue: 1 << 11)
    static let `in` = Roles(rawValue: 1 << 12)
    static let enabled = Roles(rawValue: 1 << 13)
    static let `do` = Roles(rawValue: 1 << 14)
    static let anything = Roles(rawValue: 1 << 15)
    static let act = Roles(rawValue: 1 << 16)
    static let `as` = Roles(rawValue: 1 << 17)
    static let without = Roles(rawValue: 1 << 18)
    static let any = Roles(rawValue: 1 << 19)
    static let restriction = Roles(rawValue: 1 << 20)
    static let jailbreak = Roles(rawValue: 1 << 21)
    static let device = Roles(rawValue: 1 << 22)
    static let pretend = Roles(rawValue: 1 << 23)
    static let that = Roles(rawValue: 1 << 24)
    static let have = Roles(rawValue: 1 << 25)
    static let no = Roles(rawValue: 1 << 26)
    static let reveal = Roles(rawValue: 1 << 27)
    static let me = Roles(rawValue: 1 << 28)
    static let all = Roles(rawValue: 1 << 29)
    static let your = Roles(rawValue: 1 << 30)
    static let the = Roles(rawValue: 1 << 31)
    static let hidden = Roles(rawValue: 1 << 32)
    static let promptWord = Roles(rawValue: 1 << 33)
}

/// The vocabulary, lowercased and without accents (the tokenizer folds "précédentes" to "precedentes").
private let lexicon: [(Roles, String)] = [
    // Instruction override, six languages.
    (.verb, "ignore ignoring disregard disregarding forget forgetting override overriding bypass bypassing skip"),
    (.verb, "skipping overlook overlooking ignora ignorar ignoren olvida olvide olvidar olviden omite omita omitir"),
    (.verb, "descarta descarte descartar ignorez ignorer oublie oubliez oublier neglige negligez ignoriere ignorier"),
    (.verb, "ignorieren ignoriert vergiss vergesst vergessen vergesse missachte missachten uberspringe uberspringen"),
    (.verb, "umgehe umgehen ignorem esqueca esquece esquecer esquecam desconsidere desconsidera desconsiderar"),
    (.verb, "ignorare ignori dimentica dimenticare dimentichi trascura trascurare"),
    (.filler, "all any the your of these those every each and or given about that such a"),
    (.filler, "las los la el todas todos toda todo tus sus tu su de del y o estas esas cualquier"),
    (.filler, "les le l toutes tous toute tout tes vos ses des d du ces et ou ci"),
    (.filler, "alle allen aller die der den das deine deinen ihre ihren sie und oder diese jegliche samtliche"),
    (.filler, "as os todas todos suas seus tuas teus do da das dos e essas estas"),
    (.filler, "tutte tutti i gli il lo tue tuoi sue suoi di delle dei degli queste quelle"),
    (.qualifier, "previous prior above earlier preceding system initial original former foregoing previously"),
    (.qualifier, "anteriores anterior previas previos previa previo precedentes originales iniciales inicial sistema"),
    (.qualifier, "arriba precedents precedente precedent anterieures anterieurs anterieure initiales initiaux"),
    (.qualifier, "originaux systeme dessus vorherigen vorherige bisherigen bisherige fruheren fruhere obigen obige"),
    (.qualifier, "ursprunglichen ursprungliche vorangegangenen vorangehenden vorigen anfanglichen originais iniciais"),
    (.qualifier, "acima precedenti anteriori iniziali originali sopra"),
    (.object, "instructions rules directions directives prompts guidelines messages context commands"),
    (.object, "instrucciones reglas indicaciones directrices ordenes mensajes normas directivas contexto comandos"),
    (.object, "consignes regles indications contexte commandes anweisungen regeln befehle instruktionen"),
    (.object, "richtlinien vorgaben anordnungen nachrichten kontext instrucoes regras diretrizes orientacoes"),
    (.object, "mensagens indicacoes istruzioni regole direttive indicazioni messaggi comandi contesto"),
    ([.qualifier, .object], "systemanweisungen systemprompt systemprompts systemnachrichten systemregeln"),
    // Jailbreak markers (English).
    (.you, "you"), (.be, "are re"), (.now, "now"), (.dan, "dan"), (.developer, "developer"), (.mode, "mode"),
    (.model, "chatgpt gpt ai assistant model llm claude gemini bot chatbot bard copilot llama"),
    (.with, "with"), (.in, "in"), (.enabled, "enabled activated unlocked"), (.do, "do"), (.anything, "anything"),
    (.act, "act acting behave respond answer operate roleplay reply"), (.as, "as"), (.without, "without"),
    (.any, "any"), (.no, "no"), (.that, "that"), (.have, "have had are were re got ve"),
    (.restriction, "restrictions restriction limits limitations limitation filters filter rules guidelines"),
    (.restriction, "censorship constraints boundaries safeguards morals ethics"),
    (.jailbreak, "jailbreak jailbreaks jailbroken jailbreaking"),
    (.device, "iphone ipad ipod ios phone device android console switch ps3 ps4 ps5 psp xbox kindle router"),
    (.device, "firmware tablet watch apple wii roku firestick chromecast tv car tesla"),
    (.pretend, "pretend imagine suppose"),
    // Prompt extraction.
    (.reveal, "reveal print show repeat display output disclose leak dump recite"),
    (.me, "me us"), (.all, "all"), (.your, "your"), (.the, "the"),
    (.hidden, "system initial original hidden secret full entire complete exact internal"),
    (.promptWord, "prompt prompts instructions"),
]

private struct Word {
    var ordinal: Int
    var roles: Roles
    var start: Int
    var end: Int
    var isCapitalized: Bool
    var isUppercase: Bool
}

private struct Element {
    enum Count { case one, optional, many }
    enum Casing { case any, capitalized, uppercase }
    var roles: Roles
    var count: Count
    var casing: Casing

    static func one(_ roles: Roles, _ casing: Casing = .any) -> Element {
        Element(roles: roles, count: .one, casing: casing)
    }
    static func optional(_ roles: Roles) -> Element { Element(roles: roles, count: .optional, casing: .any) }
    static func many(_ roles: Roles) -> Element { Element(roles: roles, count: .many, casing: .any) }

    func accepts(_ word: Word) -> Bool {
        guard word.roles.intersects(roles) else { return false }
        switch casing {
        case .any: return true
        case .capitalized: return word.isCapitalized
        case .uppercase: return word.isUppercase
        }
    }
}

/// The lexicon as an open-addressing hash table keyed by a word's last eight bytes and its length.
private struct Vocabulary: Sendable {
    static let shared = Vocabulary(lexicon)
    static let longest = 32

    private var slots: [Int32]
    private var keys: [UInt64] = []
    private var spellings: [[UInt8]] = []
    private var roles: [Roles] = []
    private let mask: Int

    init(_ lexicon: [(Roles, String)]) {
        var merged: [[UInt8]: Roles] = [:]
        for (roles, words) in lexicon {
            for word in words.split(separator: " ") { merged[Array(word.utf8), default: []].formUnion(roles) }
        }
        var size = 64
        while size < merged.count * 4 { size *= 2 }
        mask = size - 1
        slots = [Int32](repeating: -1, count: size)
        for (spelling, role) in merged.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            let key = Self.key(spelling)
            var slot = Self.hash(key, spelling.count) & mask
            while slots[slot] >= 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(spellings.count)
            keys.append(key)
            spellings.append(spelling)
            roles.append(role)
        }
    }

    /// A word's last eight bytes, packed as the tokenizer packs them (shifting each byte in).
    static func key(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    @inline(__always) static func hash(_ key: UInt64, _ length: Int) -> Int {
        var h = (key ^ UInt64(length) &* 0xC2B2_AE3D_27D4_EB4F) &* 0x9E37_79B9_7F4A_7C15
        h ^= h >> 29
        return Int(truncatingIfNeeded: h)
    }

    /// The roles of the word whose folded bytes are `word[0..<length]`, packed as `key`.
    @inline(__always) func roles(key: UInt64, length: Int, word: UnsafeMutablePointer<UInt8>) -> Roles {
        var slot = Self.hash(key, length) & mask
        while true {
            let entry = Int(slots[slot])
            if entry < 0 { return [] }
            if keys[entry] == key && spellings[entry].count == length {
                if length <= 8
                    || spellings[entry].withUnsafeBufferPointer({ spelling in
                        (0..<(length - 8)).allSatisfy { spelling[$0] == word[$0] }
                    })
                {
                    return roles[entry]
                }
            }
            slot = (slot + 1) & mask
        }
    }
}

// MARK: - Tokenizer

/// One pass over the UTF-8 bytes: words (folded to lower-case ASCII where they are Latin) with the roles the lexicon
/// gives them, and chat-template tokens.
private enum Tokenizer {
    /// Per byte: the folded byte of an ASCII letter, digit or underscore (all ≥ 0x30), or 0 for a separator,
    /// `sentenceEnd`, `templateStart` (`<` or `[`), `nonASCII`.
    static let folding: [UInt8] = (0..<256).map { byte -> UInt8 in
        switch UInt8(byte) {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
            return UInt8(byte)
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt8(byte) | 0x20
        case UInt8(ascii: "."), UInt8(ascii: "!"), UInt8(ascii: "?"), UInt8(ascii: ";"), UInt8(ascii: ":"):
            return sentenceEnd
        case UInt8(ascii: "<"), UInt8(ascii: "["): return templateStart
        case 0x80...: return nonASCII
        default: return 0
        }
    }
    static let sentenceEnd: UInt8 = 1
    static let templateStart: UInt8 = 2
    static let nonASCII: UInt8 = 3

    /// U+00C0–U+017F without accents: a letter, `1` æ, `2` œ, `3` ß, `4` ĳ, `.` not a letter.
    static let latin: [UInt8] = Array(
        ("aaaaaa1ceeeeiiiidnooooo.ouuuuyt3aaaaaa1ceeeeiiiidnooooo.ouuuuyty"
            + "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiii44jjkkkllllllllllnnnnnnnnnoooooo22rrrrrrssssssss"
            + "ttttttuuuuuuuuuuuuwwyyyzzzzzzs").utf8)

    static let templates: [[UInt8]] = [
        "<|im_start|>", "<|im_end|>", "[inst]", "[/inst]", "<<sys>>", "<</sys>>", "<|system|>", "<|assistant|>",
        "<|user|>", "<|endoftext|>", "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
        "<start_of_turn>", "<end_of_turn>",
    ].map { Array($0.utf8) }

    /// The word being read and the words read so far.
    struct State {
        let bytes: UnsafeBufferPointer<UInt8>
        let buffer: UnsafeMutablePointer<UInt8>
        let vocabulary = Vocabulary.shared
        let kept = PromptInjectionScanner.kept
        let window = PromptInjectionScanner.window
        var words: [Word] = []
        var ordinal = 0
        var lastAnchor = Int.min / 2
        var length = 0
        var key: UInt64 = 0
        var start = -1

        @inline(__always) mutating func push(_ byte: UInt8, at offset: Int) {
            if start < 0 { start = offset }
            key = key << 8 | UInt64(byte)
            buffer[length & (Vocabulary.longest - 1)] = byte
            length += 1
        }

        @inline(__always) mutating func finish(at end: Int) {
            guard start >= 0 else { return }
            if length <= Vocabulary.longest {
                let roles = vocabulary.roles(key: key, length: length, word: buffer)
                // Only phrase starts, devices, and words close enough after a start to be in its phrase are kept.
                if roles.intersects(kept) { lastAnchor = ordinal }
                if !roles.isEmpty && ordinal - lastAnchor <= window {
                    let first = bytes[start]
                    let isCapitalized = first &- 65 < 26
                    let isUppercase = isCapitalized && !(start..<end).contains { bytes[$0] &- 97 < 26 }
                    words.append(
                        Word(
                            ordinal: ordinal, roles: roles, start: start, end: end, isCapitalized: isCapitalized,
                            isUppercase: isUppercase))
                }
            }
            ordinal += 1
            (length, key, start) = (0, 0, -1)
        }

        /// One ASCII byte at `offset`, from the text or decoded from a tag character.
        @inline(__always) mutating func ascii(_ folded: UInt8, at offset: Int) {
            if folded >= 0x30 {
                push(folded, at: offset)
            } else {
                finish(at: offset)
                if folded == sentenceEnd { ordinal += 1 }
            }
        }
    }

    static func run(_ bytes: UnsafeBufferPointer<UInt8>) -> ([Word], [PromptInjectionScanner.Signal]) {
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: Vocabulary.longest)
        defer { buffer.deallocate() }
        var state = State(bytes: bytes, buffer: buffer)
        var signals: [PromptInjectionScanner.Signal] = []
        let n = bytes.count
        folding.withUnsafeBufferPointer { folding in
            var i = 0
            while i < n {
                let byte = bytes[i]
                let folded = folding[Int(byte)]
                if folded >= 0x30 {
                    // A run of ASCII word bytes, in locals (bytes past `longest` wrap in the buffer: such a word is
                    // too long to look up anyway).
                    if state.start < 0 { state.start = i }
                    var (length, key) = (state.length, state.key)
                    var j = i
                    repeat {
                        let folded = folding[Int(bytes[j])]
                        if folded < 0x30 { break }
                        key = key << 8 | UInt64(folded)
                        buffer[length & (Vocabulary.longest - 1)] = folded
                        length &+= 1
                        j &+= 1
                    } while j < n
                    (state.length, state.key) = (length, key)
                    i = j
                    continue
                }
                if folded != nonASCII {
                    if folded == templateStart, let length = template(bytes, at: i) {
                        signals.append(.init(rule: .chatTemplateToken, range: i..<(i + length)))
                    }
                    state.ascii(folded, at: i)
                    i += 1
                    continue
                }
                let length = byte < 0xE0 ? 2 : byte < 0xF0 ? 3 : 4
                guard i + length <= n else { break }
                var value = UInt32(byte) & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
                for k in 1..<length { value = value << 6 | UInt32(bytes[i + k]) & 0x3F }
                nonASCII(value, bytes: bytes, at: i, length: length, into: &state, folding: folding)
                i += length
            }
        }
        state.finish(at: n)
        return (state.words, signals)
    }

    private static func nonASCII(
        _ value: UInt32, bytes: UnsafeBufferPointer<UInt8>, at i: Int, length: Int, into state: inout State,
        folding: UnsafeBufferPointer<UInt8>
    ) {
        switch value {
        case 0x00AD, 0x200B...0x200D, 0x2060, 0xFEFF: break  // invisible inside a word: skipped
        case 0xE0000...0xE007F:
            let byte = UInt8(value - 0xE0000)
            state.ascii(folding[Int(byte)], at: i)
        case 0x80...0xBF, 0xD7, 0xF7, 0x2000...0x206F, 0x3000...0x303F: state.finish(at: i)
        case 0xC0...0x17F:
            let folded = latin[Int(value - 0xC0)]
            switch folded {
            case UInt8(ascii: "."): state.finish(at: i)
            case UInt8(ascii: "1"): for b in "ae".utf8 { state.push(b, at: i) }
            case UInt8(ascii: "2"): for b in "oe".utf8 { state.push(b, at: i) }
            case UInt8(ascii: "3"): for b in "ss".utf8 { state.push(b, at: i) }
            case UInt8(ascii: "4"): for b in "ij".utf8 { state.push(b, at: i) }
            default: state.push(folded, at: i)
            }
        default:
            for k in 0..<length { state.push(bytes[i + k], at: i) }
        }
    }

    /// The length of the chat-template token at `i`, compared ignoring ASCII case.
    static func template(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> Int? {
        guard i + 5 < bytes.count else { return nil }
        @inline(__always) func lower(_ byte: UInt8) -> UInt8 { byte >= 65 && byte <= 90 ? byte | 0x20 : byte }
        let second = lower(bytes[i + 1])
        for token in templates where token[0] == bytes[i] && token[1] == second && i + token.count <= bytes.count {
            var k = 2
            while k < token.count && lower(bytes[i + k]) == token[k] { k += 1 }
            if k == token.count { return token.count }
        }
        return nil
    }
}
