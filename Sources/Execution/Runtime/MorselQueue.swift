import Columnar
import SQL
import Synchronization

/// The morsels of one scan for one run, handed out in order to however many
/// partitions pull from it: whole files, or byte ranges of large ones (rows
/// that start in the range; see `FileFormat`). Files whose partition values
/// fail a pushed filter are dropped here, before anything opens them.
final class MorselQueue: Sendable {
    struct Morsel: Sendable {
        /// Position in the queue: file order, then range order.
        var index: Int
        var file: Int
        /// The part of the file this morsel reads; nil for all of it.
        var range: FileRange?
    }

    let morsels: [Morsel]
    /// Per file, the value of each partition column (`ScanSpec.partitionFields` order).
    let partitionValues: [[Value]]
    let filesRead: Int
    let filesSkipped: Int
    let bytesSkipped: Int
    private let cursor = Atomic<Int>(0)
    /// Where to split a file into ranges of about `size` bytes: anywhere in a
    /// text file (each range's reader finds its first row), at block starts in a Sluice file.
    static func bounds(_ file: DataFile, _ format: FileFormatSpec, size: Int) throws(SQLError) -> [Int] {
        guard case .sluice = format else {
            return Array(stride(from: 0, to: file.size - size / 2, by: size)) + [file.size]
        }
        let blocks = try SluiceFormat.blockStarts(file)
        var bounds = [0]
        for b in blocks.dropFirst() where b - bounds.last! >= size || b == blocks.last! { bounds.append(b) }
        if bounds.count > 2, bounds[bounds.count - 1] - bounds[bounds.count - 2] < size / 2 { bounds.remove(at: bounds.count - 2) }
        return bounds
    }

    /// How large the ranges of a file are: enough of them for every reader
    /// to have several (so they finish together), none so small that starting
    /// one costs much, none so large that its bytes leave the cache before
    /// they are parsed (a range is read whole, then followed for quotes, then parsed).
    static func rangeSize(_ fileSize: Int, partitions: Int) -> Int {
        min(2 << 20, max(1 << 20, fileSize / max(1, 8 * partitions)))
    }

    /// `pruning` are the scan's filters over partition columns only; large
    /// files are split into ranges when `partitions` readers share the queue.
    init(_ spec: ScanSpec, pruning: [BoundExpr], partitions: Int, context: RunContext) throws(SQLError) {
        let out = spec.outputSchema
        let dataCount = spec.dataSchema.count
        var values: [[Value]] = []
        var morsels: [Morsel] = []
        var skipped = 0, bytesSkipped = 0, read = 0
        for (f, file) in spec.files.enumerated() {
            let parts = spec.partitionFields.map { field in
                file.partitions.first { $0.key == field.name && $0.value != HiveDirectory.nullValue }.flatMap { Cast.parse($0.value, as: field.type) } ?? .null
            }
            values.append(parts)
            if !pruning.isEmpty {
                // One row of this file's partition values; data columns are NULL here and unused by `pruning`.
                let cols = spec.fields.enumerated().map { slot, field in
                    Column.constant(field >= dataCount ? parts[field - dataCount] : .null, type: out.fields[slot].type, count: 1)
                }
                let one = RecordBatch(schema: out, columns: cols, rowCount: 1)
                var keep = true
                for p in pruning where !(try Evaluator.select(p, one)[0]) { keep = false; break }
                if !keep { skipped += 1; bytesSkipped += file.size; continue }
            }
            read += 1
            if let span = file.range, span != 0..<file.size {
                // A task's share of a large file: its rows, split further among this task's readers.
                if case .sluice = spec.format { throw SQLError.execution("a Sluice file is read whole, not bytes \(span) of \"\(file.path)\"") }
                guard !ByteSource.isCompressed(file.path) else {
                    throw SQLError.execution("a compressed file is read whole, not bytes \(span) of \"\(file.path)\"")
                }
                let size = Self.rangeSize(span.count, partitions: partitions)
                let bounds = partitions > 1 && span.count >= 2 * size
                    ? Array(stride(from: span.lowerBound, to: span.upperBound - size / 2, by: size)) + [span.upperBound]
                    : [span.lowerBound, span.upperBound]
                let state = try FileSplit.quoteState(path: file.path, at: span.lowerBound, before: bounds[1], format: spec.format)
                let split = FileSplit(path: file.path, bounds: bounds, context: context, entryState: state, fileSize: file.size)
                for k in 0..<split.parts { morsels.append(Morsel(index: morsels.count, file: f, range: FileRange(split: split, part: k))) }
                continue
            }
            let size = Self.rangeSize(file.size, partitions: partitions)
            if partitions > 1, file.size >= 2 * size, spec.format.splittable, !ByteSource.isCompressed(file.path),
               case let bounds = try Self.bounds(file, spec.format, size: size), bounds.count > 2 {
                let split = FileSplit(path: file.path, bounds: bounds, context: context, fileSize: file.size)
                for k in 0..<split.parts { morsels.append(Morsel(index: morsels.count, file: f, range: FileRange(split: split, part: k))) }
            } else {
                morsels.append(Morsel(index: morsels.count, file: f, range: nil))
            }
        }
        self.morsels = morsels
        partitionValues = values
        filesRead = read
        filesSkipped = skipped
        self.bytesSkipped = bytesSkipped
    }

    /// The next morsel in order, or nil when all were handed out.
    func next() -> Morsel? {
        let i = cursor.wrappingAdd(1, ordering: .relaxed).oldValue
        return i < morsels.count ? morsels[i] : nil
    }
}
