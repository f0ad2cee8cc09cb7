import Foundation
import Hummingbird
import Logging

/// A provider simulator: an HTTP server speaking the OpenAI, Anthropic and Gemini wire formats with
/// deterministic replies, configurable pacing and injected faults (see docs/simulator.md).
public enum Simulator {
    /// Builds the app; `onListening` receives the bound port once the server runs.
    public static func makeApplication(
        options: SimulatorOptions,
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void
    ) -> some ApplicationProtocol {
        let simulation = Simulation(options: options)
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorEnvelopeMiddleware())
        router.add(middleware: RequestRecorder(log: simulation.log))
        registerControlRoutes(on: router, simulation: simulation)
        OpenAIRoutes(simulation: simulation).register(on: router)
        AnthropicRoutes(simulation: simulation).register(on: router)
        GeminiRoutes(simulation: simulation).register(on: router)
        let fallbackPort = options.port
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(options.host, port: options.port)),
            onServerRunning: { channel in
                await onListening(channel.localAddress?.port ?? fallbackPort)
            },
            logger: logger
        )
    }

    /// The same app as ``makeApplication(options:logger:onListening:)``, named for callers that run it as
    /// a service-lifecycle `Service` (an `ApplicationProtocol` is one) inside their own `ServiceGroup`.
    public static func makeService(
        options: SimulatorOptions,
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void
    ) -> some ApplicationProtocol {
        makeApplication(options: options, logger: logger, onListening: onListening)
    }

    /// Builds the app and runs it until SIGINT/SIGTERM.
    public static func run(
        options: SimulatorOptions,
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void
    ) async throws {
        try await makeApplication(options: options, logger: logger, onListening: onListening).runService()
    }

    private static func registerControlRoutes(on router: Router<BasicRequestContext>, simulation: Simulation) {
        router.get("/health") { _, _ in HTTPOutput.text("ok") }
        router.get("/_sim/requests") { request, _ in
            let limit = request.queryValue("limit").flatMap { Int($0) }
            return HTTPOutput.json(.array(simulation.log.recent(limit: limit).map(\.json)))
        }
        router.delete("/_sim/requests") { _, _ in
            simulation.log.clear()
            return Response(status: .noContent)
        }
    }
}

/// Renders router errors (unknown route, body too large) in the OpenAI error format.
struct ErrorEnvelopeMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let message =
                error.status == .notFound
                ? "Invalid URL (\(request.method.rawValue) \(request.uri.path))"
                : (error.body ?? error.status.reasonPhrase)
            let type = error.status.code >= 500 ? "server_error" : "invalid_request_error"
            let body: JSON = ["error": ["message": .string(message), "type": .string(type), "param": nil, "code": nil]]
            return HTTPOutput.json(body, status: error.status)
        }
    }
}
