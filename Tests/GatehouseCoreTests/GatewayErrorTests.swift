import GatehouseCore
import Testing

@Suite("Gateway error codes: a closed set")
struct GatewayErrorTests {
    @Test("every code reads back from its text, and nothing else does")
    func closedSet() {
        for code in GatewayError.Code.all {
            #expect(GatewayError.Code(rawValue: code.rawValue) == code)
            #expect(code.rawValue.allSatisfy { $0.isASCII && ($0.isLowercase || $0 == "_") })
        }
        #expect(GatewayError.Code(rawValue: "made_up") == nil)
        #expect(GatewayError.Code(rawValue: "Model_Not_Found") == nil)
        #expect(GatewayError.Code(rawValue: "") == nil)
    }

    @Test("an error without a code of its own carries its kind's")
    func defaultCode() {
        #expect(GatewayError(.rateLimited, "x").code == "rate_limited")
        #expect(GatewayError(.internalError, "x").code == "internal")
        #expect(GatewayError(.notFound, "x", code: .modelNotFound).code == "model_not_found")
    }
}
