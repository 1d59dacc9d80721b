import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP/1.1 server for the operator endpoints (`/metrics`, `/healthz`, `/readyz`, `/dashboard`,
/// `/admin/reload`), on its own event loop thread so scrapes never touch the pipeline's threads.
final class HTTPEndpoints: Sendable {
    /// What a route sees of a request.
    struct Request: Sendable {
        var method: HTTPMethod
        var path: String
        /// Whether the client connected from a loopback address.
        var fromLoopback: Bool
        /// The `Authorization` header, if any.
        var authorization: String?
    }

    /// A response: status, content type and body.
    struct Response: Sendable {
        var status: HTTPResponseStatus
        var contentType: String
        var body: [UInt8]

        init(status: HTTPResponseStatus, contentType: String, body: [UInt8]) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }

        init(status: HTTPResponseStatus = .ok, json: String) {
            self.init(status: status, contentType: "application/json", body: Array(json.utf8))
        }
    }

    typealias Route = @Sendable (_ request: Request) -> Response?

    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    /// The port actually bound (useful with port 0).
    let port: Int

    /// The event loop serving requests, for periodic tasks that belong with the endpoints (dashboard sampling).
    var eventLoop: any EventLoop { channel.eventLoop }

    /// Binds `listen` (`host:port`; port 0 picks a free one) and serves `route`.
    init(listen: String, route: @escaping Route) throws {
        let parts = listen.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 2, let port = Int(parts.last!) else { throw HTTPEndpointsError("http.listen must be host:port, got \(listen)") }
        let host = parts.dropLast().joined(separator: ":")
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(RequestHandler(route: route))
                }
            }
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        self.port = channel.localAddress?.port ?? port
    }

    func close() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

struct HTTPEndpointsError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Answers one request per `end` part with the route's response (404 when none).
private final class RequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let route: HTTPEndpoints.Route
    private var head: HTTPRequestHead?

    init(route: @escaping HTTPEndpoints.Route) {
        self.route = route
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            head = request
        case .body:
            break
        case .end:
            guard let request = head else { return }
            head = nil
            let path = String(request.uri.split(separator: "?", maxSplits: 1).first ?? "")
            let fromLoopback: Bool
            switch context.remoteAddress {
            case .v4(let address): fromLoopback = UInt32(bigEndian: address.address.sin_addr.s_addr) >> 24 == 127
            case .v6:
                let text = context.remoteAddress?.ipAddress ?? ""
                fromLoopback = text == "::1" || text.hasPrefix("::ffff:127.")
            case .unixDomainSocket: fromLoopback = true
            case nil: fromLoopback = false
            }
            let response =
                route(HTTPEndpoints.Request(method: request.method, path: path, fromLoopback: fromLoopback, authorization: request.headers.first(name: "Authorization")))
                ?? .init(status: .notFound, contentType: "text/plain", body: Array("not found\n".utf8))
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: response.contentType)
            headers.add(name: "Content-Length", value: String(response.body.count))
            headers.add(name: "Connection", value: request.isKeepAlive ? "keep-alive" : "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: response.status, headers: headers))), promise: nil)
            var buffer = context.channel.allocator.buffer(capacity: response.body.count)
            buffer.writeBytes(response.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            let keepAlive = request.isKeepAlive
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }
}
