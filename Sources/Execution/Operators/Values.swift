import Columnar
import SQL

/// Rows known when planning (VALUES, SELECT without FROM, an in-memory table).
final class ValuesOperator: Operator {
    let batches: [RecordBatch]
    let schema: Schema
    let stats = OperatorStats()
    private var index = 0
    private let context: RunContext

    /// Its place in an order-keeping gather (a stage input: the task that wrote the rows).
    let morsel: Int

    init(_ batches: [RecordBatch], schema: Schema, context: RunContext, morsel: Int = 0) {
        self.batches = batches
        self.morsel = morsel
        self.schema = schema
        self.context = context
    }

    func close() { index = batches.count }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            try context.check()
            guard index < batches.count else { return nil }
            index += 1
            let b = batches[index - 1]
            return RecordBatch(schema: schema, columns: b.columns, rowCount: b.rowCount)
        }
    }
}

/// A stage input pulled from its stream (in task order), on the consumer's thread.
final class StreamSource: Operator {
    let schema: Schema
    let stats = OperatorStats()
    let morsel = 0
    private let stream: any StageStream
    private let context: RunContext

    init(_ stream: any StageStream, schema: Schema, context: RunContext) {
        self.stream = stream
        self.schema = schema
        self.context = context
    }

    func close() { stream.close() }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            try context.check()
            guard let b = try stream.next() else { return nil }
            return RecordBatch(schema: schema, columns: b.columns, rowCount: b.rowCount)
        }
    }
}
