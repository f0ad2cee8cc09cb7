import Foundation
import GatehouseSecurity

/// Records an operator action in the audit log of `state` and flushes it before the command exits.
/// An audit failure is reported on stderr but does not undo the action, which has already happened.
func auditOperatorAction(_ kind: AuditKind, state: StateDirectory, fields: AuditFields) {
    let user = ProcessInfo.processInfo.environment["USER"].flatMap { AuditValue.isCredentialShaped($0) ? nil : $0 } ?? "unknown"
    do {
        let writer = try AuditWriter.open(state: state, actor: "cli:\(user)")
        try writer.append(kind, fields: fields)
        try writer.close()
    } catch {
        FileHandle.standardError.write(Data("gatehouse: warning: could not write the audit log: \(error)\n".utf8))
    }
}
