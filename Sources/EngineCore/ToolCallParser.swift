import WorkerProtocol
// Streaming extraction of tool calls from raw model output text.
//
// Everything works on UTF-8 bytes and looks at each byte exactly once, so feeding is O(n) overall
// and the events produced do not depend on how the output was cut into pieces (only how text is
// grouped into events does). Tool-call JSON is followed by a small incremental scanner instead of
// being re-parsed, which is what lets argument text stream out while the model is still writing it.

/// One item of parsed model output, in the order it should be forwarded to the client.
public enum ParsedOutput: Equatable, Sendable {
    /// Ordinary assistant text.
    case content(String)
    /// A piece of a tool call; see `ToolCallDelta` for how pieces combine.
    case toolCall(ToolCallDelta)
}

/// Splits a model's output stream into content text and tool-call deltas.
///
/// Loss rule: raw text that no started call stands for is never dropped. When tool syntax turns out
/// malformed, or the output ends before a call's name is complete, that text (from its marker, or
/// from the unfinished call object when earlier calls of the same block succeeded) is returned as
/// content by `finish()`. Only whitespace and separators between recognised calls, and a
/// (partial) closing `</tool_call>`, are dropped, because they are pure syntax.
///
/// Feeding after `finish()` parses a new output; call indices keep counting up.
public struct ToolCallParser: Sendable {
    /// Calls started so far; also the index the next call will get.
    public private(set) var callCount: Int = 0

    private let format: ToolCallFormat
    private let makeID: @Sendable () -> String
    private var mode: Mode = .plain
    private var scanner = JSONScanner()
    private var emitter = Emitter()
    /// Where call objects sit inside the JSON value being scanned.
    private var layout: Layout = .object
    /// The call object being scanned, if any.
    private var call: CallObject?
    /// The value whose bytes are being collected right now.
    private var capture: Capture = .none
    /// generic: the root member whose value is being scanned.
    private var rootKey: RootKey = .other
    /// generic: inside the `tool_calls` array, whose object elements are calls.
    private var inToolCallsArray = false
    /// Raw text that no emitted event stands for yet; it becomes content at `finish()` unless a
    /// call (or a generic response) claims it first.
    private var retained: [UInt8] = []
    /// Whether consumed bytes currently belong in `retained`.
    private var retaining = false
    /// The current tool block already produced a call (or a generic response), so whatever
    /// separates its elements is syntax, and an unfinished later element only gives back its own text.
    private var blockCommitted = false

    public init(format: ToolCallFormat, makeID: @escaping @Sendable () -> String) {
        self.format = format
        self.makeID = makeID
        resetForNewOutput()
    }

    /// Feeds the next piece of model output text; returns what can be emitted now (in order).
    public mutating func feed(_ text: String) -> [ParsedOutput] {
        for byte in text.utf8 {
            consume(byte)
        }
        return emitter.take()
    }

    /// The output ended: returns everything still held back.
    public mutating func finish() -> [ParsedOutput] {
        switch mode {
        case .content(let matched):
            emitter.appendContent(marker[0..<matched])
        case .beforeJSON, .json, .fallback, .llamaLead, .llamaTag, .genericLead:
            // A call that already started keeps what it streamed; anything unclaimed is content.
            if retaining {
                emitter.appendContent(retained)
            }
        case .closeTag, .afterBlock, .llamaBetween, .plain, .genericTrail:
            break
        }
        let output = emitter.take()
        resetForNewOutput()
        return output
    }

    // MARK: - State

    private enum Mode: Sendable {
        /// hermes/mistral free text; `matched` marker bytes are held back because they may start the marker.
        case content(matched: Int)
        /// After a marker (or llama3's python tag): whitespace, then the JSON value.
        case beforeJSON
        /// Inside the JSON value, driven by `scanner`.
        case json
        /// hermes: after the call object, expecting `</tool_call>`; `matched` bytes of it seen.
        case closeTag(matched: Int)
        /// After a finished block: whitespace is syntax, anything else is content again.
        case afterBlock
        /// llama3: leading whitespace, kept in `retained` until the first other byte decides.
        case llamaLead
        /// llama3: a leading `<` that may be `<|python_tag|>`; `matched` bytes seen.
        case llamaTag(matched: Int)
        /// llama3: after a call object; `;` and whitespace may separate further objects.
        case llamaBetween
        /// Everything is streamed as content.
        case plain
        /// generic: leading whitespace before the root object.
        case genericLead
        /// generic: after a root object that produced output; only whitespace may follow.
        case genericTrail
        /// The syntax broke: everything is retained and becomes content at `finish()`.
        case fallback
    }

    /// Level (number of enclosing containers) of call objects in the scanned value, by shape.
    private enum Layout: Sendable {
        /// The top-level value is the call object (hermes, llama3, single-object mistral).
        case object
        /// The top-level value is an array of call objects (mistral).
        case array
        /// generic: `{"tool_calls": [call, ...], "response": "..."}`.
        case genericRoot
    }

    private enum Capture: Sendable {
        case none
        case name(level: Int)
        case arguments(level: Int)
        case response(level: Int)
    }

    private struct CallObject: Sendable {
        /// Level of the call object itself; its members are one level deeper.
        let level: Int
        var key: MemberKey = .other
        /// Set once the name completed and the call was announced.
        var index: Int?
        var argumentsSeen = false
        /// Argument bytes that arrived before the name (keys in swapped order).
        var pendingArguments: [UInt8] = []
    }

    private enum MemberKey: Sendable {
        case name, arguments, other

        init(_ key: [UInt8]) {
            if key == Keys.name {
                self = .name
            } else if key == Keys.arguments || key == Keys.parameters {
                self = .arguments
            } else {
                self = .other
            }
        }
    }

    private enum RootKey: Sendable {
        case toolCalls, response, other

        init(_ key: [UInt8]) {
            if key == Keys.toolCalls {
                self = .toolCalls
            } else if key == Keys.response {
                self = .response
            } else {
                self = .other
            }
        }
    }

    private var marker: [UInt8] {
        format == .mistral ? Markers.mistralOpen : Markers.hermesOpen
    }

    private mutating func resetForNewOutput() {
        scanner = JSONScanner()
        layout = .object
        call = nil
        capture = .none
        rootKey = .other
        inToolCallsArray = false
        retained = []
        blockCommitted = false
        switch format {
        case .hermes, .mistral:
            mode = .content(matched: 0)
            retaining = false
        case .llama3:
            mode = .llamaLead
            retaining = true
        case .generic:
            mode = .genericLead
            retaining = true
        }
    }

    // MARK: - Byte dispatch

    private mutating func consume(_ byte: UInt8) {
        switch mode {
        case .content(let matched):
            consumeContent(byte, matched: matched)
        case .beforeJSON:
            consumeBeforeJSON(byte)
        case .json:
            consumeJSON(byte)
        case .closeTag(let matched):
            consumeCloseTag(byte, matched: matched)
        case .afterBlock:
            if !isJSONWhitespace(byte) {
                mode = .content(matched: 0)
                consume(byte)
            }
        case .llamaLead:
            consumeLlamaLead(byte)
        case .llamaTag(let matched):
            consumeLlamaTag(byte, matched: matched)
        case .llamaBetween:
            consumeLlamaBetween(byte)
        case .plain:
            emitter.appendContent(byte)
        case .genericLead:
            consumeGenericLead(byte)
        case .genericTrail:
            if !isJSONWhitespace(byte) {
                enterFallback(with: byte)
            }
        case .fallback:
            retained.append(byte)
        }
    }

    /// Streams content while holding back only a tail that could still grow into the marker.
    private mutating func consumeContent(_ byte: UInt8, matched: Int) {
        let marker = self.marker
        if byte == marker[matched] {
            if matched + 1 == marker.count {
                openBlock()
            } else {
                mode = .content(matched: matched + 1)
            }
            return
        }
        if matched == 0 {
            emitter.appendContent(byte)
            return
        }
        var held = Array(marker[0..<matched])
        held.append(byte)
        let keep = Self.longestMarkerPrefixEnding(held, marker: marker)
        emitter.appendContent(held[0..<(held.count - keep)])
        mode = .content(matched: keep)
    }

    /// Length of the longest proper marker prefix that `held` ends with; general so that a marker
    /// with a repeated start would still be found after a false start.
    private static func longestMarkerPrefixEnding(_ held: [UInt8], marker: [UInt8]) -> Int {
        var length = min(held.count - 1, marker.count - 1)
        while length > 0 {
            if held[(held.count - length)...].elementsEqual(marker[0..<length]) {
                return length
            }
            length -= 1
        }
        return 0
    }

    private mutating func openBlock() {
        mode = .beforeJSON
        retained = marker
        retaining = true
        blockCommitted = false
    }

    private mutating func consumeBeforeJSON(_ byte: UInt8) {
        if isJSONWhitespace(byte) {
            retained.append(byte)
            return
        }
        switch byte {
        case UInt8(ascii: "{"):
            layout = .object
        case UInt8(ascii: "[") where format == .mistral:
            layout = .array
        default:
            enterFallback(with: byte)
            return
        }
        startJSON(byte)
    }

    private mutating func startJSON(_ byte: UInt8) {
        scanner = JSONScanner()
        mode = .json
        consumeJSON(byte)
    }

    private mutating func consumeJSON(_ byte: UInt8) {
        let step = scanner.consume(byte)
        if let level = step.numberEndedLevel {
            valueEnded(level: level)
            // A number only ever ends a member value, so this is defensive: if the mode changed,
            // the byte belongs to whatever comes next.
            guard case .json = mode else {
                consume(byte)
                return
            }
        }
        switch step.event {
        case .failed:
            enterFallback(with: byte)
            return
        case .keyEnd(let level):
            keyEnded(level: level)
        case .valueStart(let kind, let level):
            guard valueStarted(kind, level: level) else {
                enterFallback(with: byte)
                return
            }
        case .none, .valueEnd:
            break
        }
        collect(byte)
        if retaining {
            retained.append(byte)
        }
        // Handled after collecting so that a value's last byte is still part of it.
        if case .valueEnd(let level) = step.event {
            valueEnded(level: level)
        }
    }

    private mutating func consumeCloseTag(_ byte: UInt8, matched: Int) {
        let close = Markers.hermesClose
        if matched == 0 && isJSONWhitespace(byte) {
            return
        }
        if byte == close[matched] {
            mode = matched + 1 == close.count ? .afterBlock : .closeTag(matched: matched + 1)
            return
        }
        // No closing tag: what follows the call is ordinary output again (possibly the next
        // `<tool_call>`, when a model skips the closing tag), so replay it through content mode.
        mode = .content(matched: 0)
        for held in close[0..<matched] {
            consume(held)
        }
        consume(byte)
    }

    private mutating func consumeLlamaLead(_ byte: UInt8) {
        if isJSONWhitespace(byte) {
            retained.append(byte)
        } else if byte == UInt8(ascii: "{") {
            layout = .object
            startJSON(byte)
        } else if byte == Markers.pythonTag[0] {
            retained.append(byte)
            mode = .llamaTag(matched: 1)
        } else {
            startPlainContent(with: byte)
        }
    }

    private mutating func consumeLlamaTag(_ byte: UInt8, matched: Int) {
        let tag = Markers.pythonTag
        guard byte == tag[matched] else {
            startPlainContent(with: byte)
            return
        }
        retained.append(byte)
        mode = matched + 1 == tag.count ? .beforeJSON : .llamaTag(matched: matched + 1)
    }

    private mutating func consumeLlamaBetween(_ byte: UInt8) {
        if isJSONWhitespace(byte) || byte == UInt8(ascii: ";") {
            return
        }
        if byte == UInt8(ascii: "{") {
            layout = .object
            startJSON(byte)
            return
        }
        mode = .plain
        emitter.appendContent(byte)
    }

    /// llama3 output that is not a call: the held leading text is content after all.
    private mutating func startPlainContent(with byte: UInt8) {
        emitter.appendContent(retained)
        emitter.appendContent(byte)
        retained = []
        retaining = false
        mode = .plain
    }

    private mutating func consumeGenericLead(_ byte: UInt8) {
        if isJSONWhitespace(byte) {
            retained.append(byte)
            return
        }
        guard byte == UInt8(ascii: "{") else {
            enterFallback(with: byte)
            return
        }
        layout = .genericRoot
        startJSON(byte)
    }

    /// From here on nothing is parsed; the unclaimed raw text (from `byte` when nothing was being
    /// retained, e.g. inside a started call) is returned as content at `finish()`.
    private mutating func enterFallback(with byte: UInt8?) {
        if !retaining {
            retained = []
            retaining = true
        }
        if let byte {
            retained.append(byte)
        }
        call = nil
        capture = .none
        mode = .fallback
    }

    // MARK: - JSON structure

    private mutating func keyEnded(level: Int) {
        if var current = call {
            if level == current.level + 1 {
                current.key = MemberKey(scanner.decoded)
                call = current
            }
            return
        }
        if layout == .genericRoot && level == 1 {
            rootKey = RootKey(scanner.decoded)
        }
    }

    /// Returns false when the value makes the tool syntax malformed.
    private mutating func valueStarted(_ kind: JSONScanner.ValueKind, level: Int) -> Bool {
        if var current = call {
            guard level == current.level + 1 else {
                return true
            }
            switch current.key {
            case .name where kind == .string && current.index == nil:
                capture = .name(level: level)
            case .arguments where !current.argumentsSeen:
                current.argumentsSeen = true
                capture = .arguments(level: level)
                call = current
            case .name, .arguments, .other:
                break
            }
            return true
        }
        switch layout {
        case .object:
            return level == 0 ? beginCall(kind, level: level) : true
        case .array:
            return level == 1 ? beginCall(kind, level: level) : true
        case .genericRoot:
            if level == 2 && inToolCallsArray {
                return beginCall(kind, level: level)
            }
            if level == 1 {
                switch rootKey {
                case .toolCalls where kind == .array:
                    inToolCallsArray = true
                    commit()
                case .response where kind == .string:
                    capture = .response(level: level)
                    commit()
                case .toolCalls, .response, .other:
                    break
                }
            }
            return true
        }
    }

    private mutating func beginCall(_ kind: JSONScanner.ValueKind, level: Int) -> Bool {
        guard kind == .object else {
            return false
        }
        call = CallObject(level: level)
        if blockCommitted {
            // Earlier elements are accounted for; only this object's own text is at stake now.
            retained = []
            retaining = true
        }
        return true
    }

    private mutating func collect(_ byte: UInt8) {
        switch capture {
        case .arguments:
            if let index = call?.index {
                emitter.appendArguments(byte, index: index)
            } else {
                call?.pendingArguments.append(byte)
            }
        case .response:
            if !scanner.decoded.isEmpty {
                emitter.appendContent(scanner.decoded)
                scanner.clearDecoded()
            }
        case .none, .name:
            break
        }
    }

    private mutating func valueEnded(level: Int) {
        switch capture {
        case .name(let captured) where captured == level:
            capture = .none
            startCall(named: String(decoding: scanner.decoded, as: UTF8.self))
        case .arguments(let captured) where captured == level, .response(let captured) where captured == level:
            capture = .none
        case .none, .name, .arguments, .response:
            break
        }
        if let current = call, current.level == level {
            call = nil
            guard let index = current.index else {
                // A call object without a usable name cannot be announced; keep its text.
                enterFallback(with: nil)
                return
            }
            if !current.argumentsSeen {
                emitter.appendArguments(Keys.emptyArguments, index: index)
            }
            retained = []
            retaining = false
        }
        if layout == .genericRoot && level == 1 {
            inToolCallsArray = false
        }
        if level == 0 {
            topLevelEnded()
        }
    }

    private mutating func startCall(named name: String) {
        guard var current = call, current.index == nil else {
            return
        }
        let index = callCount
        callCount += 1
        current.index = index
        emitter.emit(ToolCallDelta(index: index, id: makeID(), name: name, arguments: ""))
        if !current.pendingArguments.isEmpty {
            emitter.appendArguments(current.pendingArguments, index: index)
            current.pendingArguments = []
        }
        call = current
        commit()
    }

    /// The block now has output of its own, so the raw text so far is represented and can go.
    private mutating func commit() {
        retained = []
        retaining = false
        blockCommitted = true
    }

    private mutating func topLevelEnded() {
        if format == .generic {
            // A root object that was neither a response nor tool calls is plain text after all.
            mode = blockCommitted ? .genericTrail : .fallback
            return
        }
        if !blockCommitted {
            // e.g. an empty mistral array: no call stands for the block, so it is content.
            emitter.appendContent(retained)
        }
        retained = []
        retaining = false
        switch format {
        case .hermes:
            mode = blockCommitted ? .closeTag(matched: 0) : .content(matched: 0)
        case .mistral, .generic:
            mode = blockCommitted ? .afterBlock : .content(matched: 0)
        case .llama3:
            mode = blockCommitted ? .llamaBetween : .plain
        }
    }
}

// MARK: - Constants

private enum Markers {
    static let hermesOpen = Array("<tool_call>".utf8)
    static let hermesClose = Array("</tool_call>".utf8)
    static let mistralOpen = Array("[TOOL_CALLS]".utf8)
    static let pythonTag = Array("<|python_tag|>".utf8)
}

private enum Keys {
    static let name = Array("name".utf8)
    static let arguments = Array("arguments".utf8)
    static let parameters = Array("parameters".utf8)
    static let toolCalls = Array("tool_calls".utf8)
    static let response = Array("response".utf8)
    static let emptyArguments = Array("{}".utf8)
}

private func isJSONWhitespace(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
}

// MARK: - Output grouping

/// Groups consecutive bytes of the same kind into one event, so a feed yields few events, while
/// keeping the order in which content and call pieces were produced.
private struct Emitter: Sendable {
    private var events: [ParsedOutput] = []
    private var content: [UInt8] = []
    private var arguments: [UInt8] = []
    private var argumentsIndex = 0

    mutating func appendContent(_ byte: UInt8) {
        flushArguments()
        content.append(byte)
    }

    mutating func appendContent<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        guard !bytes.isEmpty else {
            return
        }
        flushArguments()
        content.append(contentsOf: bytes)
    }

    mutating func appendArguments(_ byte: UInt8, index: Int) {
        prepareArguments(index: index)
        arguments.append(byte)
    }

    mutating func appendArguments<Bytes: Collection>(_ bytes: Bytes, index: Int) where Bytes.Element == UInt8 {
        guard !bytes.isEmpty else {
            return
        }
        prepareArguments(index: index)
        arguments.append(contentsOf: bytes)
    }

    mutating func emit(_ delta: ToolCallDelta) {
        flushContent()
        flushArguments()
        events.append(.toolCall(delta))
    }

    mutating func take() -> [ParsedOutput] {
        flushContent()
        flushArguments()
        let output = events
        events = []
        return output
    }

    private mutating func prepareArguments(index: Int) {
        flushContent()
        if index != argumentsIndex {
            flushArguments()
            argumentsIndex = index
        }
    }

    // Flushes happen at feed ends or before ASCII syntax bytes, and input pieces never split a
    // UTF-8 character, so the bytes always decode cleanly.
    private mutating func flushContent() {
        guard !content.isEmpty else {
            return
        }
        events.append(.content(String(decoding: content, as: UTF8.self)))
        content.removeAll(keepingCapacity: true)
    }

    private mutating func flushArguments() {
        guard !arguments.isEmpty else {
            return
        }
        events.append(.toolCall(ToolCallDelta(index: argumentsIndex, arguments: String(decoding: arguments, as: UTF8.self))))
        arguments.removeAll(keepingCapacity: true)
    }
}

// MARK: - Incremental JSON scanner

/// Checks JSON syntax one byte at a time and reports the structure the parser needs: where values
/// and keys start and end, and at which nesting level. It keeps an explicit container stack rather
/// than recursing, so hostile nesting depth cannot overflow the call stack. Strings are decoded
/// on the fly (escapes, surrogate pairs) because names and generic responses need decoded text.
///
/// Deliberately lenient in one place: raw control characters inside strings are accepted, since
/// models often write literal newlines in code arguments and rejecting them would lose the call.
private struct JSONScanner: Sendable {
    enum ValueKind: Sendable {
        case object, array, string, number, literal
    }

    /// `level` counts the containers enclosing the value or key: 0 for the top-level value.
    enum Event: Sendable, Equatable {
        case none
        case failed
        case keyEnd(level: Int)
        case valueStart(ValueKind, level: Int)
        case valueEnd(level: Int)
    }

    struct Step: Sendable {
        /// A number only ends when a byte that cannot continue it arrives, so that byte reports
        /// the number's end here, before its own event.
        var numberEndedLevel: Int?
        var event: Event
    }

    private enum Container: Sendable {
        case object, array
    }

    private enum NumberPhase: Sendable {
        case sign, zero, integer, point, fraction, exponentMark, exponentSign, exponent

        var isComplete: Bool {
            switch self {
            case .zero, .integer, .fraction, .exponent: true
            case .sign, .point, .exponentMark, .exponentSign: false
            }
        }

        func advanced(by byte: UInt8) -> NumberPhase? {
            let isDigit = byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
            let isExponent = byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
            switch self {
            case .sign:
                if byte == UInt8(ascii: "0") { return .zero }
                return isDigit ? .integer : nil
            case .zero:
                if byte == UInt8(ascii: ".") { return .point }
                return isExponent ? .exponentMark : nil
            case .integer:
                if isDigit { return .integer }
                if byte == UInt8(ascii: ".") { return .point }
                return isExponent ? .exponentMark : nil
            case .point:
                return isDigit ? .fraction : nil
            case .fraction:
                if isDigit { return .fraction }
                return isExponent ? .exponentMark : nil
            case .exponentMark:
                if byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") { return .exponentSign }
                return isDigit ? .exponent : nil
            case .exponentSign, .exponent:
                return isDigit ? .exponent : nil
            }
        }
    }

    private enum Literal: Sendable {
        case trueWord, falseWord, nullWord

        var bytes: [UInt8] {
            switch self {
            case .trueWord: Literals.trueBytes
            case .falseWord: Literals.falseBytes
            case .nullWord: Literals.nullBytes
            }
        }
    }

    private enum State: Sendable {
        case value
        case valueOrClose
        case keyOrClose
        case key
        case colon
        case afterValue
        case string(isKey: Bool)
        case escape(isKey: Bool)
        case unicode(isKey: Bool, digits: Int, code: UInt32)
        case number(NumberPhase)
        case literal(Literal, matched: Int)
        case done
        case failed
    }

    /// Decoded text of the current (or most recent) string, key or value.
    private(set) var decoded: [UInt8] = []
    private var stack: [Container] = []
    private var state: State = .value
    /// A `\uD800`-`\uDBFF` escape waiting for its low half.
    private var pendingHighSurrogate: UInt32?

    mutating func clearDecoded() {
        decoded.removeAll(keepingCapacity: true)
    }

    mutating func consume(_ byte: UInt8) -> Step {
        guard case .number(let phase) = state else {
            return Step(numberEndedLevel: nil, event: process(byte))
        }
        if let next = phase.advanced(by: byte) {
            state = .number(next)
            return Step(numberEndedLevel: nil, event: .none)
        }
        guard phase.isComplete else {
            return Step(numberEndedLevel: nil, event: fail())
        }
        let level = stack.count
        state = stateAfterValue
        return Step(numberEndedLevel: level, event: process(byte))
    }

    private var stateAfterValue: State {
        stack.isEmpty ? .done : .afterValue
    }

    private mutating func process(_ byte: UInt8) -> Event {
        switch state {
        case .value:
            return isJSONWhitespace(byte) ? .none : startValue(byte)
        case .valueOrClose:
            if isJSONWhitespace(byte) { return .none }
            return byte == UInt8(ascii: "]") ? closeContainer(.array) : startValue(byte)
        case .keyOrClose, .key:
            if isJSONWhitespace(byte) { return .none }
            if byte == UInt8(ascii: "\"") {
                startString(isKey: true)
                return .none
            }
            if byte == UInt8(ascii: "}"), case .keyOrClose = state {
                return closeContainer(.object)
            }
            return fail()
        case .colon:
            if isJSONWhitespace(byte) { return .none }
            guard byte == UInt8(ascii: ":") else { return fail() }
            state = .value
            return .none
        case .afterValue:
            return afterValue(byte)
        case .string(let isKey):
            return stringByte(byte, isKey: isKey)
        case .escape(let isKey):
            return escapeByte(byte, isKey: isKey)
        case .unicode(let isKey, let digits, let code):
            guard let digit = Self.hexValue(byte) else { return fail() }
            let value = code << 4 | digit
            if digits < 3 {
                state = .unicode(isKey: isKey, digits: digits + 1, code: value)
            } else {
                appendUTF16(value)
                state = .string(isKey: isKey)
            }
            return .none
        case .literal(let word, let matched):
            let bytes = word.bytes
            guard matched < bytes.count, byte == bytes[matched] else { return fail() }
            if matched + 1 == bytes.count {
                state = stateAfterValue
                return .valueEnd(level: stack.count)
            }
            state = .literal(word, matched: matched + 1)
            return .none
        case .number:
            // `consume` resolves numbers before calling here; stay total anyway.
            return fail()
        case .done:
            return isJSONWhitespace(byte) ? .none : fail()
        case .failed:
            return .failed
        }
    }

    private mutating func afterValue(_ byte: UInt8) -> Event {
        switch byte {
        case 0x20, 0x0A, 0x0D, 0x09:
            return .none
        case UInt8(ascii: ","):
            state = stack.last == .object ? .key : .value
            return .none
        case UInt8(ascii: "}"):
            return closeContainer(.object)
        case UInt8(ascii: "]"):
            return closeContainer(.array)
        default:
            return fail()
        }
    }

    private mutating func startValue(_ byte: UInt8) -> Event {
        let level = stack.count
        switch byte {
        case UInt8(ascii: "{"):
            stack.append(.object)
            state = .keyOrClose
            return .valueStart(.object, level: level)
        case UInt8(ascii: "["):
            stack.append(.array)
            state = .valueOrClose
            return .valueStart(.array, level: level)
        case UInt8(ascii: "\""):
            startString(isKey: false)
            return .valueStart(.string, level: level)
        case UInt8(ascii: "-"):
            state = .number(.sign)
            return .valueStart(.number, level: level)
        case UInt8(ascii: "0"):
            state = .number(.zero)
            return .valueStart(.number, level: level)
        case UInt8(ascii: "1")...UInt8(ascii: "9"):
            state = .number(.integer)
            return .valueStart(.number, level: level)
        case UInt8(ascii: "t"):
            state = .literal(.trueWord, matched: 1)
            return .valueStart(.literal, level: level)
        case UInt8(ascii: "f"):
            state = .literal(.falseWord, matched: 1)
            return .valueStart(.literal, level: level)
        case UInt8(ascii: "n"):
            state = .literal(.nullWord, matched: 1)
            return .valueStart(.literal, level: level)
        default:
            return fail()
        }
    }

    private mutating func closeContainer(_ container: Container) -> Event {
        guard stack.last == container else { return fail() }
        stack.removeLast()
        state = stateAfterValue
        return .valueEnd(level: stack.count)
    }

    private mutating func startString(isKey: Bool) {
        decoded.removeAll(keepingCapacity: true)
        pendingHighSurrogate = nil
        state = .string(isKey: isKey)
    }

    private mutating func stringByte(_ byte: UInt8, isKey: Bool) -> Event {
        switch byte {
        case UInt8(ascii: "\""):
            flushLoneSurrogate()
            if isKey {
                state = .colon
                return .keyEnd(level: stack.count)
            }
            state = stateAfterValue
            return .valueEnd(level: stack.count)
        case UInt8(ascii: "\\"):
            state = .escape(isKey: isKey)
        default:
            flushLoneSurrogate()
            decoded.append(byte)
        }
        return .none
    }

    private mutating func escapeByte(_ byte: UInt8, isKey: Bool) -> Event {
        if byte == UInt8(ascii: "u") {
            state = .unicode(isKey: isKey, digits: 0, code: 0)
            return .none
        }
        let unescaped: UInt8
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): unescaped = byte
        case UInt8(ascii: "b"): unescaped = 0x08
        case UInt8(ascii: "f"): unescaped = 0x0C
        case UInt8(ascii: "n"): unescaped = 0x0A
        case UInt8(ascii: "r"): unescaped = 0x0D
        case UInt8(ascii: "t"): unescaped = 0x09
        default: return fail()
        }
        flushLoneSurrogate()
        decoded.append(unescaped)
        state = .string(isKey: isKey)
        return .none
    }

    /// Joins surrogate pairs; unpaired halves become U+FFFD instead of failing, as decoders do.
    private mutating func appendUTF16(_ unit: UInt32) {
        if let high = pendingHighSurrogate {
            pendingHighSurrogate = nil
            if (0xDC00...0xDFFF).contains(unit) {
                appendScalar(0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00))
                return
            }
            appendScalar(0xFFFD)
        }
        if (0xD800...0xDBFF).contains(unit) {
            pendingHighSurrogate = unit
        } else {
            appendScalar(unit)
        }
    }

    private mutating func flushLoneSurrogate() {
        if pendingHighSurrogate != nil {
            pendingHighSurrogate = nil
            appendScalar(0xFFFD)
        }
    }

    private mutating func appendScalar(_ value: UInt32) {
        let scalar = Unicode.Scalar(value) ?? "\u{FFFD}"
        decoded.append(contentsOf: scalar.utf8)
    }

    private mutating func fail() -> Event {
        state = .failed
        return .failed
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}

private enum Literals {
    static let trueBytes = Array("true".utf8)
    static let falseBytes = Array("false".utf8)
    static let nullBytes = Array("null".utf8)
}
