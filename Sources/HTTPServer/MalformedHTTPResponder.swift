import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers HTTP that cannot be parsed (a garbage request line, a bad header line, an invalid or negative
/// Content-Length, a megabyte of headers) with the API's own JSON error, 400 `malformed_http`, instead of the empty
/// 400 that Hummingbird writes itself, then closes the connection as Hummingbird would.
///
/// It sits in each connection's pipeline right after the HTTP decoder. Only errors between requests (while a head
/// is being read) are answered here; an error inside a request's body still reaches the route, which is reading that
/// body and answers with `malformed_body` (a bad chunk size).
///
/// Thread safety: one instance per connection, used on that connection's event loop only.
final class MalformedHTTPResponder: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// A request head was read and its end not yet.
    private var insideRequest = false
    /// Requests read whose response has not been written to its end (keep-alive clients may pipeline).
    private var responsesOwed = 0
    /// A parse error that came while a response was still owed: answered once that response has ended.
    private var deferredError: HTTPParserError?
    private var answered = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            insideRequest = true
            responsesOwed += 1
        case .end: insideRequest = false
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parseError = error as? HTTPParserError, !insideRequest, !answered, deferredError == nil else {
            context.fireErrorCaught(error)
            return
        }
        if responsesOwed > 0 {
            deferredError = parseError
        } else {
            answer(parseError, context: context)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Once this handler has answered, nothing else may write on the connection.
        guard !answered else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let ends: Bool
        if case .end = unwrapOutboundIn(data) { ends = true } else { ends = false }
        context.write(data, promise: promise)
        if ends {
            responsesOwed = max(0, responsesOwed - 1)
            if responsesOwed == 0, let error = deferredError { answer(error, context: context) }
        }
    }

    private func answer(_ parseError: HTTPParserError, context: ChannelHandlerContext) {
        answered = true
        let apiError = APIError.invalid(
            "the request is not valid HTTP/1.1 (\(Self.describe(parseError))); the connection is closed",
            param: nil, code: "malformed_http")
        var body = context.channel.allocator.buffer(capacity: 256)
        body.writeString(apiError.body.serialized)
        let head = HTTPResponse(status: .badRequest, headerFields: [
            .contentType: "application/json", .contentLength: String(body.readableBytes), .connection: "close",
        ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }

    private static func describe(_ error: HTTPParserError) -> String {
        switch error {
        case .headerOverflow: return "the request headers are too large"
        case .invalidContentLength: return "invalid Content-Length"
        case .unexpectedContentLength: return "unexpected Content-Length"
        case .invalidMethod: return "invalid method"
        case .invalidURL: return "invalid request target"
        case .invalidVersion: return "invalid HTTP version"
        case .invalidHeaderToken, .invalidConstant, .lfExpected, .strictModeAssertion: return "invalid header syntax"
        case .invalidChunkSize: return "invalid chunk size"
        default: return "\(error)"
        }
    }
}
