import ArgumentParser
import Foundation
import GatehouseSecurity

/// The `--state DIR` option shared by commands that touch the state directory.
struct StateOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "State directory (default: $GATEHOUSE_STATE, else $XDG_STATE_HOME/gatehouse, "
                + "else ~/.local/state/gatehouse).",
            valueName: "dir"
        )
    )
    var state: String?

    /// The directory to use: `--state` if given, else the default resolved from the environment.
    func resolve() -> StateDirectory {
        if let state, !state.isEmpty {
            return StateDirectory(path: state)
        }
        return StateDirectory.resolveDefault(environment: ProcessInfo.processInfo.environment)
    }
}
