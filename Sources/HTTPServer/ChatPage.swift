import HTTPTypes
import Hummingbird
import NIOCore

/// The browser chat page (`Resources/chat.html`, compiled into the binary): pick a model, stream answers, stop, a
/// system prompt, images for vision models, a tokens-per-second readout. It calls the same OpenAI-compatible API as
/// any client, from the same origin, so no CORS setting is needed.
enum ChatPage {
    static let html = ByteBuffer(bytes: PackageResources.chat_html)

    static var response: Response {
        Response(status: .ok, headers: [
            .contentType: "text/html; charset=utf-8", .cacheControl: "no-cache",
            HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            // Only this server: scripts and styles are the page's own, answers go to this origin.
            HTTPField.Name("Content-Security-Policy")!: "default-src 'none'; script-src 'unsafe-inline'; "
                + "style-src 'unsafe-inline'; img-src data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'",
        ], body: ResponseBody(byteBuffer: html))
    }
}
