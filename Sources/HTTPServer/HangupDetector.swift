import NIOCore
import NIOHTTPTypes

/// Tells a connection's routes when its client has hung up. Hummingbird allows remote half-closure, so a client
/// that closes its socket shows up only as "input closed" (the channel stays open until the server writes); a route
/// that writes nothing until its answer is done would otherwise work on for a client that is long gone.
///
/// It sits in each connection's pipeline after the HTTP decoder and passes everything through. A client that
/// half-closes on purpose after sending its request (legal, and rare) is treated as gone too: its non-streamed
/// request is cancelled.
///
/// Thread safety: one instance per connection; `hungUp` is created in `handlerAdded` (before any request is read)
/// and only completed on the connection's event loop.
final class HangupDetector: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    /// Completed when the client's side is closed (input closed, or the whole channel went inactive).
    private(set) var hungUp: EventLoopPromise<Void>?

    func handlerAdded(context: ChannelHandlerContext) {
        hungUp = context.eventLoop.makePromise(of: Void.self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        hungUp?.succeed()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { hungUp?.succeed() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        hungUp?.succeed()
        context.fireChannelInactive()
    }
}
