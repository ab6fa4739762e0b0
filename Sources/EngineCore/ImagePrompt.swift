import ChatTemplate
import Tokenizer

/// How an Idefics3 / SmolVLM prompt holds images, as its Hugging Face processor writes it: the chat template renders
/// each image part as one `<image>` mark; the processor replaces each mark with the image's layout, in which every
/// tile (and, for a split image, the whole image last) takes `tokensPerImage` `<image>` positions that the decoder
/// fills with the vision encoder's embeddings instead of token embeddings:
///
///     split into R × C tiles:  for each row r: for each col c: <fake_token_around_image><row_r_col_c><image>×N, then "\n"
///                              "\n<fake_token_around_image><global-img><image>×N<fake_token_around_image>"
///     not split:               <fake_token_around_image><global-img><image>×N<fake_token_around_image>
public struct ImagePromptLayout: Sendable, Equatable {
    public var imageToken = "<image>"
    public var fakeToken = "<fake_token_around_image>"
    public var globalToken = "<global-img>"
    /// Embeddings per tile (the connector's output length).
    public var tokensPerImage: Int

    public init(tokensPerImage: Int) {
        self.tokensPerImage = tokensPerImage
    }

    /// The text that stands for one image of `rows × cols` tiles (`split` false: the image was not split).
    public func expansion(rows: Int, cols: Int, split: Bool) -> String {
        let run = String(repeating: imageToken, count: tokensPerImage)
        let global = "\(fakeToken)\(globalToken)\(run)\(fakeToken)"
        guard split else { return global }
        var text = ""
        for r in 1...max(1, rows) {
            for c in 1...max(1, cols) { text += "\(fakeToken)<row_\(r)_col_\(c)>\(run)" }
            text += "\n"
        }
        return text + "\n" + global
    }

    /// `rendered` (a chat template's output) with its image marks replaced, in order, by the layouts of `images`
    /// (rows, cols, split). The number of marks must equal the number of images.
    public func expand(_ rendered: String, images: [(rows: Int, cols: Int, split: Bool)]) throws(PromptError) -> String {
        let pieces = rendered.components(separatedBy: imageToken)
        guard pieces.count - 1 == images.count else {
            throw PromptError("the prompt has \(pieces.count - 1) image marks for \(images.count) images; "
                + "put each image in its own content part")
        }
        var text = pieces[0]
        for (index, image) in images.enumerated() {
            text += expansion(rows: image.rows, cols: image.cols, split: image.split) + pieces[index + 1]
        }
        return text
    }

    /// Checks that the tokenizer knows the layout's marks as single tokens; returns the image token's id.
    public func imageTokenID(in tokenizer: any TextTokenizer) throws(PromptError) -> Int32 {
        for mark in [imageToken, fakeToken, globalToken, "<row_1_col_1>"] {
            let ids = tokenizer.encode(mark, addSpecial: false, parseSpecial: true)
            guard ids.count == 1 else {
                throw PromptError("the model's tokenizer has no \(mark) token, so it cannot take images in the "
                    + "Idefics3 layout")
            }
        }
        return tokenizer.encode(imageToken, addSpecial: false, parseSpecial: true)[0]
    }
}

extension PromptBuilder {
    /// A chat prompt with images: messages whose content is a string get the list-of-parts form vision templates
    /// iterate (`[{"type": "text", "text": ...}]`), the template renders one mark per image part, and the marks are
    /// expanded to the images' layouts before tokenizing.
    public func imageChatTokens(messagesJSON: String, layout: ImagePromptLayout,
                                images: [(rows: Int, cols: Int, split: Bool)]) throws(PromptError) -> [Int32] {
        let parsed: JinjaValue
        do {
            parsed = try JinjaValue(jsonString: messagesJSON)
        } catch {
            throw PromptError("the messages are not valid JSON: \(error)")
        }
        guard case .array(var messages) = parsed else { throw PromptError("the messages must be a JSON array") }
        for index in messages.indices {
            guard case .object(var message) = messages[index], case .string(let text)? = message["content"] else {
                continue
            }
            message["content"] = .array([.object(OrderedDict([("type", .string("text")), ("text", .string(text))]))])
            messages[index] = .object(message)
        }
        let rendered = try render(messages: messages, addGenerationPrompt: true, tools: nil)
        return encode(try layout.expand(rendered, images: images))
    }
}
