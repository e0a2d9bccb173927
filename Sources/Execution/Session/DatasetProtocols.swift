import Columnar
import Foundation
import SQL

/// Where a session finds named datasets (the coordinator's catalog).
public protocol DatasetLookup: AnyObject, Sendable {
    var names: [String] { get }
    /// Dataset `name` as a table, or nil when there is none by that name.
    func table(_ name: String, for session: Session) throws(SQLError) -> TableSource?
}

public enum DatasetWriteMode: Sendable, Equatable {
    case create, replace, append
    /// The files of this partition (column, value pairs in the dataset's order) replace its old ones.
    case overwritePartition([[String]])
}

/// What a write needs to know of an existing dataset.
public struct DatasetShape: Sendable {
    public var columns: [Field]
    public var partitionColumns: [String]
    /// Its directory (or the glob it was registered from).
    public var location: String
    public var format: String
    public init(columns: [Field], partitionColumns: [String], location: String, format: String) {
        self.columns = columns
        self.partitionColumns = partitionColumns
        self.location = location
        self.format = format
    }
}

/// Where a session's CREATE TABLE AS and INSERT INTO put named datasets.
public protocol DatasetWriter: AnyObject, Sendable {
    /// A directory for a new version of dataset `name`'s files (of one
    /// partition, given as column-value pairs, or of the whole dataset when
    /// empty); it does not exist yet.
    func versionDirectory(for name: String, partition: [[String]]) throws(SQLError) -> String
    /// The dataset's columns, partitioning, place and format, or nil when there is none by that name.
    func shape(of name: String) throws(SQLError) -> DatasetShape?
    /// Takes the files into the catalog in one transaction: a new dataset, a
    /// replacement of one (its old files deleted after), or files added to one.
    func publish(_ name: String, columns: [Field], files: [(path: String, rows: Int, bytes: Int)], mode: DatasetWriteMode, by query: String) throws(SQLError)
    /// DROP TABLE of a dataset: out of the catalog, and its files deleted when
    /// the warehouse holds them. False when there is none by that name.
    func drop(_ name: String) throws(SQLError) -> Bool
}
