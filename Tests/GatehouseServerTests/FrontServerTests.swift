import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import GatehouseServer

/// The front's HTTP/1.1 server over a real loopback socket: keep-alive, pipelining, the
/// body limit, streamed answers, HTTP/1.0.
@Suite("Front HTTP server")
struct FrontServerTests {
    /// Echoes the method, path and body size; `/stream` answers in three chunks.
    static func respond(_ request: FrontRequest) async -> FrontResponse {
        if request.path == "/control" {
            return FrontResponse(status: .ok, headers: ["x-echo": "a\u{01}b\r\nc"], body: .buffer(ByteBuffer(string: "ok")))
        }
        if request.path == "/stream" {
            return FrontResponse(status: .ok, headers: ["content-type": "text/event-stream"], body: .stream { writer in
                for index in 1...3 { try await writer.write(ByteBuffer(string: "data: \(index)\n\n")) }
            })
        }
        let size: String
        do {
            switch request.body {
            case .complete(let body): size = String(body.readableBytes)
            case .pending(let body): size = String(try await body.get().readableBytes)
            }
        } catch is FrontRequest.BodyTooLarge {
            return FrontResponse(status: .payloadTooLarge, body: .buffer(ByteBuffer(string: "too large")))
        } catch {
            return FrontResponse(status: .internalServerError, body: .buffer(ByteBuffer()))
        }
        return FrontResponse(status: .ok, body: .buffer(ByteBuffer(string: "\(request.method.rawValue) \(request.path) \(size)")))
    }

    /// Starts a server on a free loopback port, runs `body` with the port, then stops it.
    func withServer(_ body: (Int) async throws -> Void) async throws {
        let (ports, listening) = AsyncStream.makeStream(of: Int.self)
        let server = FrontServer(
            address: .tcp(host: "127.0.0.1", port: 0), maxBodyBytes: 2048, logger: Logger(label: "test"),
            onListening: { port in listening.yield(port) }, respond: Self.respond)
        let running = Task { try await server.run() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        defer { running.cancel() }
        try await body(port)
    }

    /// Writes `request` on a fresh connection and returns everything read until the server closes it.
    func exchange(port: Int, _ request: String) async throws -> String {
        try await Task.detached {
            let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(socket) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw ChannelError.connectPending }
            let bytes = Array(request.utf8)
            _ = bytes.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, 0) }
            var received: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
                if count <= 0 { break }
                received += chunk[0..<count]
            }
            return String(decoding: received, as: UTF8.self)
        }.value
    }

    @Test("serves pipelined requests in order on one connection, then honours connection: close")
    func pipelining() async throws {
        try await withServer { port in
            let text = try await exchange(
                port: port,
                "POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc"
                    + "GET /b HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            let first = try #require(text.range(of: "POST /a 3"))
            let second = try #require(text.range(of: "GET /b 0"))
            #expect(first.lowerBound < second.lowerBound)
            #expect(text.components(separatedBy: "HTTP/1.1 200 OK").count == 3)
            #expect(text.lowercased().contains("connection: close"))
        }
    }

    @Test("answers fifty pipelined requests, with bodies, in order")
    func manyPipelined() async throws {
        try await withServer { port in
            var requests = ""
            for index in 0..<50 { requests += "POST /r\(index) HTTP/1.1\r\nhost: x\r\ncontent-length: \(index)\r\n\r\n\(String(repeating: "b", count: index))" }
            requests += "GET /last HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
            let text = try await exchange(port: port, requests)
            var cursor = text.startIndex
            for index in 0..<50 {
                let found = try #require(text.range(of: "POST /r\(index) \(index)", range: cursor..<text.endIndex))
                cursor = found.upperBound
            }
            #expect(text.hasSuffix("GET /last 0"))
        }
    }

    @Test("answers 413 past the body limit and keeps the connection for the next request")
    func bodyLimit() async throws {
        try await withServer { port in
            let large = String(repeating: "x", count: 5000)
            let text = try await exchange(
                port: port,
                "POST /big HTTP/1.1\r\nhost: x\r\ncontent-length: 5000\r\n\r\n\(large)"
                    + "POST /small HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            #expect(text.hasPrefix("HTTP/1.1 413"))
            #expect(text.contains("POST /small 2"))
        }
    }

    @Test("streams an answer with chunked encoding, each chunk as written")
    func streaming() async throws {
        try await withServer { port in
            let text = try await exchange(port: port, "GET /stream HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            #expect(text.lowercased().contains("transfer-encoding: chunked"))
            #expect(text.contains("data: 1\n\n") && text.contains("data: 3\n\n"))
            #expect(text.hasSuffix("0\r\n\r\n"))
        }
    }

    @Test("turns control characters in header values into spaces instead of dropping the answer")
    func headerValues() async throws {
        try await withServer { port in
            let text = try await exchange(port: port, "GET /control HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            #expect(text.hasPrefix("HTTP/1.1 200 OK"))
            #expect(text.contains("x-echo: a b  c\r\n"))
            #expect(text.hasSuffix("ok"))
        }
    }

    @Test("answers HTTP/1.0 and closes; a malformed request gets 400")
    func http10AndMalformed() async throws {
        try await withServer { port in
            let text = try await exchange(port: port, "GET /old HTTP/1.0\r\n\r\n")
            #expect(text.hasPrefix("HTTP/1.0 200 OK"))
            #expect(text.hasSuffix("GET /old 0"))
            let bad = try await exchange(port: port, "NOT HTTP AT ALL\r\n\r\n")
            #expect(bad.hasPrefix("HTTP/1.1 400"))
        }
    }
}
