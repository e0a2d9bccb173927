public import Columnar

/// What a window function computes for each row.
public enum WindowFunctionKind: Sendable, Hashable {
    case rowNumber, rank, denseRank, percentRank, cumeDist, ntile
    case lag, lead, firstValue, lastValue, nthValue
    /// An aggregate over the row's frame.
    case aggregate(AggregateKind)

    public var name: String {
        switch self {
        case .rowNumber: return "row_number"
        case .rank: return "rank"
        case .denseRank: return "dense_rank"
        case .percentRank: return "percent_rank"
        case .cumeDist: return "cume_dist"
        case .ntile: return "ntile"
        case .lag: return "lag"
        case .lead: return "lead"
        case .firstValue: return "first_value"
        case .lastValue: return "last_value"
        case .nthValue: return "nth_value"
        case .aggregate(let k): return k.rawValue
        }
    }

    public init?(name: String) {
        let all: [WindowFunctionKind] = [.rowNumber, .rank, .denseRank, .percentRank, .cumeDist, .ntile, .lag, .lead, .firstValue, .lastValue, .nthValue]
        if let k = all.first(where: { $0.name == name }) { self = k; return }
        guard let a = AggregateKind(rawValue: name) else { return nil }
        self = .aggregate(a)
    }

    /// Functions of the row's place in its partition, which no frame changes.
    public var ignoresFrame: Bool {
        switch self {
        case .rowNumber, .rank, .denseRank, .percentRank, .cumeDist, .ntile, .lag, .lead: return true
        default: return false
        }
    }
}

/// One end of a window frame. An offset is a constant: rows or peer groups
/// (ROWS, GROUPS), or a value of the ORDER BY key's type (RANGE).
public enum FrameBound: Sendable, Hashable {
    case unboundedPreceding, preceding(BoundExpr), currentRow, following(BoundExpr), unboundedFollowing

    public var offset: BoundExpr? {
        switch self {
        case .preceding(let e), .following(let e): return e
        default: return nil
        }
    }
}

public enum FrameMode: String, Sendable, Hashable { case rows = "ROWS", range = "RANGE", groups = "GROUPS" }
public enum FrameExclude: String, Sendable, Hashable { case noOthers = "NO OTHERS", currentRow = "CURRENT ROW", group = "GROUP", ties = "TIES" }

public struct WindowFrame: Sendable, Hashable {
    public var mode: FrameMode
    public var start: FrameBound
    public var end: FrameBound
    public var exclude: FrameExclude

    public init(mode: FrameMode, start: FrameBound, end: FrameBound, exclude: FrameExclude) {
        self.mode = mode; self.start = start; self.end = end; self.exclude = exclude
    }

    /// SQL's default: with ORDER BY, the partition up to the row's last peer; without, all of it.
    public static func standard(ordered: Bool) -> WindowFrame {
        WindowFrame(mode: .range, start: .unboundedPreceding, end: ordered ? .currentRow : .unboundedFollowing, exclude: .noOthers)
    }
}

/// A window function call: its function, arguments, and frame. The partition
/// and order are its window node's, shared by every call in the node.
public struct WindowCall: Sendable, Hashable {
    public var function: WindowFunctionKind
    /// lag/lead: value, offset, default; ntile: buckets; nth_value: value, n; aggregates: their argument.
    public var arguments: [BoundExpr]
    public var distinct: Bool
    public var frame: WindowFrame
    public var type: DataType
    /// Only between binding and planning: the partition and order this call needs.
    public var partitionBy: [BoundExpr]
    public var orderBy: [SortKey]

    public init(function: WindowFunctionKind, arguments: [BoundExpr], distinct: Bool, frame: WindowFrame, type: DataType,
                partitionBy: [BoundExpr], orderBy: [SortKey]) {
        self.function = function; self.arguments = arguments; self.distinct = distinct; self.frame = frame; self.type = type
        self.partitionBy = partitionBy; self.orderBy = orderBy
    }

    /// `row_number() OVER (PARTITION BY ... ORDER BY ...)`, which DISTINCT ON,
    /// INTERSECT/EXCEPT ALL and correlated LIMITs are made of.
    public static func rowNumber(partitionBy: [BoundExpr], orderBy: [SortKey]) -> WindowCall {
        WindowCall(function: .rowNumber, arguments: [], distinct: false, frame: .standard(ordered: !orderBy.isEmpty), type: .bigint,
                   partitionBy: partitionBy, orderBy: orderBy)
    }

    /// The aggregate an aggregate window computes over each frame.
    public var aggregateCall: AggregateCall? {
        guard case .aggregate(let k) = function else { return nil }
        return AggregateCall(kind: k, argument: arguments.first, distinct: distinct, type: type, extra: arguments.count > 1 ? arguments[1] : nil)
    }

    /// Every expression the call reads: arguments, frame offsets, partition and order keys.
    public var expressions: [BoundExpr] {
        arguments + [frame.start.offset, frame.end.offset].compactMap { $0 } + partitionBy + orderBy.map(\.expr)
    }

    /// This call with `f` applied to each of its expressions.
    public func mapExpressions(_ f: (BoundExpr) throws(SQLError) -> BoundExpr) throws(SQLError) -> WindowCall {
        var c = self
        c.arguments = []
        for a in arguments { c.arguments.append(try f(a)) }
        func bound(_ b: FrameBound) throws(SQLError) -> FrameBound {
            switch b {
            case .preceding(let e): return .preceding(try f(e))
            case .following(let e): return .following(try f(e))
            default: return b
            }
        }
        c.frame.start = try bound(frame.start)
        c.frame.end = try bound(frame.end)
        c.partitionBy = []
        for p in partitionBy { c.partitionBy.append(try f(p)) }
        c.orderBy = []
        for var k in orderBy { k.expr = try f(k.expr); c.orderBy.append(k) }
        return c
    }
}
