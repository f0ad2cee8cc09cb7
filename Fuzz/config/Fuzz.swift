import GatehouseServer

/// The configuration reader (Yams's libyaml, then Gatehouse's typing of scalars, interpolation and
/// every section's checks): any text either loads or is refused with a LoadError that says what is
/// wrong; nothing else is thrown, and nothing crashes or hangs.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        _ = try GatewayConfig.parse(text, file: "fuzz.yaml", environment: ["PORT": "4000", "EMPTY": ""])
    } catch let error as GatewayConfig.LoadError {
        check(!error.problem.isEmpty, "a refusal says nothing")
    } catch {
        fatalError("the configuration reader threw \(type(of: error)), not a LoadError")
    }
    return 0
}

/// A property that must hold; fatalError keeps its message in a release build (precondition's does not).
func check(_ condition: @autoclosure () -> Bool, _ message: String) {
    if !condition() { fatalError(message) }
}
