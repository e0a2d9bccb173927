public import Columnar
public import SQL

/// What a scan reads, as a value: the files, their format and schema, the
/// columns wanted and the filters pushed into it. Everything a worker needs
/// to read its share; nothing that holds a file open.
public struct ScanSpec: Sendable {
    public var format: FileFormatSpec
    public var files: [DataFile]
    /// The columns every file holds.
    public var dataSchema: Schema
    /// Columns read from Hive-style directory names (`date=2026-11-01/`), after the data columns.
    public var partitionFields: [Field]
    /// The output columns: positions in `dataSchema.fields + partitionFields`.
    public var fields: [Int]
    /// Filters over the output columns.
    public var filters: [BoundExpr]
    /// For EXPLAIN: `read_csv lake/sales/*.csv (3 files)`.
    public var label: String

    public init(format: FileFormatSpec, files: [DataFile], dataSchema: Schema, partitionFields: [Field], fields: [Int],
                filters: [BoundExpr], label: String) {
        self.format = format
        self.files = files
        self.dataSchema = dataSchema
        self.partitionFields = partitionFields
        self.fields = fields
        self.filters = filters
        self.label = label
    }

    public var fullSchema: Schema { Schema(dataSchema.fields + partitionFields) }
    public var outputSchema: Schema {
        let all = fullSchema.fields
        return Schema(fields.map { all[$0] })
    }
}

/// One file of a table, with the values of its Hive-style partition directories.
public struct DataFile: Sendable, Equatable {
    public var path: String
    public var size: Int
    public var partitions: [Partition]
    /// A share of the file for one task of a stage: the rows that start in
    /// (lowerBound, upperBound] (and the row at 0); nil for the whole file.
    public var range: Range<Int>?

    public struct Partition: Sendable, Equatable {
        public var key: String
        public var value: String
        public init(_ key: String, _ value: String) { self.key = key; self.value = value }
    }

    public init(path: String, size: Int, partitions: [Partition], range: Range<Int>? = nil) {
        self.path = path
        self.size = size
        self.partitions = partitions
        self.range = range
    }
}

/// A file format with the settings its readers need.
public enum FileFormatSpec: Sendable, Equatable {
    case csv(CSVDialect)
    case json(onError: ErrorPolicy)
    case sluice

    /// Whether one file can be read in byte ranges by several readers.
    public var splittable: Bool {
        switch self {
        case .csv, .json, .sluice: true
        }
    }

    /// The table function's name, for EXPLAIN.
    public var name: String {
        switch self {
        case .csv: "read_csv"
        case .json: "read_json"
        case .sluice: "read_sluice"
        }
    }
}

/// A CSV dialect as detected or given: what a reader needs to split and parse rows.
public struct CSVDialect: Sendable, Equatable {
    public var delimiter: UInt8
    public var quote: UInt8
    public var escape: UInt8
    public var header: Bool
    public var nullString: String
    public var onError: ErrorPolicy

    public init(delimiter: UInt8, quote: UInt8, escape: UInt8, header: Bool, nullString: String, onError: ErrorPolicy) {
        self.delimiter = delimiter
        self.quote = quote
        self.escape = escape
        self.header = header
        self.nullString = nullString
        self.onError = onError
    }
}

/// What to do with a row that does not fit the schema.
public enum ErrorPolicy: Sendable, Equatable {
    case fail
    case skip
    /// Skip it, and append it with its file, line and reason to this CSV file.
    case quarantine(String)
}
