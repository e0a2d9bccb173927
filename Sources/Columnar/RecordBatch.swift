/// A named, typed column of a schema.
public struct Field: Hashable, Sendable {
    public var name: String
    public var type: DataType
    public init(_ name: String, _ type: DataType) { self.name = name; self.type = type }
}

public struct Schema: Hashable, Sendable {
    public var fields: [Field]
    public init(_ fields: [Field]) { self.fields = fields }
    public var count: Int { fields.count }
    public func index(of name: String) -> Int? {
        fields.firstIndex { $0.name.lowercased() == name.lowercased() }
    }
}

/// Rows as columns of equal length. The unit every operator consumes and produces,
/// and what shuffle blocks and results carry (see BatchCodec).
public struct RecordBatch: Sendable {
    public var schema: Schema
    public var columns: [Column]
    public let rowCount: Int

    public init(schema: Schema, columns: [Column], rowCount: Int? = nil) {
        precondition(schema.count == columns.count, "schema has \(schema.count) fields, batch \(columns.count) columns")
        self.schema = schema
        self.columns = columns
        self.rowCount = rowCount ?? columns.first?.count ?? 0
        precondition(columns.allSatisfy { $0.count == self.rowCount }, "columns of unequal length")
    }

    public static func empty(_ schema: Schema) -> RecordBatch {
        var builders = schema.fields.map { ColumnBuilder(type: $0.type) }
        return RecordBatch(schema: schema, columns: builders.indices.map { builders[$0].finish() }, rowCount: 0)
    }

    public func gather(_ indices: [Int32]) -> RecordBatch {
        RecordBatch(schema: schema, columns: columns.map { $0.gather(indices) }, rowCount: indices.count)
    }

    public func slice(_ range: Range<Int>) -> RecordBatch {
        if range == 0..<rowCount { return self }
        return RecordBatch(schema: schema, columns: columns.map { $0.slice(range) }, rowCount: range.count)
    }

    public static func concat(_ batches: [RecordBatch], schema: Schema) -> RecordBatch {
        if batches.count == 1 { return batches[0] }
        let cols = schema.fields.indices.map { c in Column.concat(batches.map { $0.columns[c] }, type: schema.fields[c].type) }
        return RecordBatch(schema: schema, columns: cols, rowCount: batches.reduce(0) { $0 + $1.rowCount })
    }

    public func row(_ i: Int) -> [Value] { columns.map { $0.value(at: i) } }
}
