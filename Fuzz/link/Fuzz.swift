import GatehouseLink
import NIOCore

/// The link's frame reader (every byte the keyholder and the front send each other): any bytes,
/// in two pieces split where the first byte says, give the same frames or the same refusal, and
/// each frame read writes back to bytes that read as the same frame. Nothing crashes or hangs.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLink(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let split = min(Int(data[0]) % size, bytes.count)
    let whole = frames([bytes[...]])
    check(whole == frames([bytes[..<split], bytes[split...]]), "the frames depend on where the bytes were cut")
    for frame in whole.frames {
        var writer = LinkFrameWriter()
        writer.append(frame)
        var buffer = ByteBuffer()
        for part in writer.take() { buffer.writeImmutableBuffer(part) }
        let again = frames([Array(buffer.readableBytesView)[...]])
        check(again.frames == [frame] && !again.refused, "a frame does not survive writing and reading")
    }
    return 0
}

struct Read: Equatable {
    var frames: [LinkFrame] = []
    var refused = false
}

func frames(_ pieces: [ArraySlice<UInt8>]) -> Read {
    var reader = LinkFrameReader()
    var read = Read()
    for piece in pieces {
        reader.append(ByteBuffer(bytes: piece))
        do {
            while let frame = try reader.next() { read.frames.append(frame) }
        } catch {
            read.refused = true
            return read
        }
    }
    return read
}

/// A property that must hold; fatalError keeps its message in a release build (precondition's does not).
func check(_ condition: @autoclosure () -> Bool, _ message: String) {
    if !condition() { fatalError(message) }
}
