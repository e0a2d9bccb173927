import Columnar
internal import CPlanProto
internal import CProtobufC
public import Execution
internal import ProtobufSupport
public import SQL

/// Physical plans to and from their wire form, proto/plan.proto: what the
/// coordinator sends a worker to run. Decoding refuses anything a plan made
/// here could not be: bytes past `maxBytes`, nesting past `maxDepth`, names
/// of functions or aggregates this build does not know, out-of-range
/// numbers, and (through `PhysicalQuery.check`) any reference a node could
/// not satisfy. Encoding refuses what decoding would.
public enum PlanCodec {
    /// Bumped when a reader of the old form would misread the new one.
    public static let version: UInt32 = 1
    /// The deepest nesting of messages (each expression level is two: `Expr`
    /// and its kind), checked before protobuf-c, whose unpacking recurses.
    public static let maxDepth = 1000
    public static let maxBytes = 1 << 30

    public static func encode(_ q: PhysicalQuery) throws(SQLError) -> [UInt8] {
        let bytes = try Arena.with { (arena) throws(SQLError) -> [UInt8] in
            let e = Encoder(arena: arena)
            let p = arena.allocate(Plan__Query.self)
            plan__query__init(p)
            p.pointee.version = version
            p.pointee.root = try e.node(q.root)
            (p.pointee.n_subqueries, p.pointee.subqueries) = try e.list(q.subqueries, e.node)
            (p.pointee.n_ctes, p.pointee.ctes) = try e.list(q.ctes, e.node)
            return packed(p)
        }
        guard bytes.count <= maxBytes else { throw SQLError.execution("Invalid plan: \(bytes.count) bytes is more than a plan may have") }
        try checkDepth(bytes)
        return bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(SQLError) -> PhysicalQuery {
        guard bytes.count <= maxBytes else { throw SQLError.execution("Invalid plan: \(bytes.count) bytes is more than a plan may have") }
        try checkDepth(bytes)
        guard let p = bytes.withUnsafeBufferPointer({ plan__query__unpack(nil, $0.count, $0.baseAddress) }) else {
            throw Decoder.error("not a protobuf encoding of a plan")
        }
        defer { plan__query__free_unpacked(p, nil) }
        guard p.pointee.version == version else {
            throw Decoder.error("version \(p.pointee.version); this build reads version \(version)")
        }
        let d = Decoder()
        let q = PhysicalQuery(root: try d.node(p.pointee.root),
                              subqueries: try d.list(p.pointee.subqueries, p.pointee.n_subqueries, d.node),
                              ctes: try d.list(p.pointee.ctes, p.pointee.n_ctes, d.node))
        try q.check()
        return q
    }

    /// The wire form of one stage, the payload of a `sql` task.
    public static func encode(_ stage: QueryStage) throws(SQLError) -> [UInt8] {
        let bytes = try Arena.with { (arena) throws(SQLError) -> [UInt8] in
            let e = Encoder(arena: arena)
            let p = arena.allocate(Plan__Stage.self)
            plan__stage__init(p)
            p.pointee.version = version
            p.pointee.id = UInt32(clamping: stage.id)
            p.pointee.fragment = try e.node(stage.plan)
            p.pointee.tasks = UInt32(clamping: stage.tasks)
            p.pointee.n_depends_on = stage.dependsOn.count
            p.pointee.depends_on = arena.array(stage.dependsOn) { UInt32(clamping: $0) }
            switch stage.output {
            case .single: p.pointee.buckets = 1
            case .hash(let keys, let n):
                p.pointee.buckets = UInt32(clamping: n)
                (p.pointee.n_hash_keys, p.pointee.hash_keys) = try e.list(keys, e.expr)
            }
            p.pointee.combine = try e.exchange(.gather(stage.combine))
            p.pointee.n_subquery_stages = stage.subqueries.count
            p.pointee.subquery_stages = arena.array(stage.subqueries) { UInt32(clamping: $0) }
            (p.pointee.n_subquery_types, p.pointee.subquery_types) = try e.list(stage.subqueryTypes) { e.dataType($0) }
            (p.pointee.n_task_scans, p.pointee.task_scans) = try e.list(stage.scanShares ?? []) { (shares) throws(SQLError) in
                let t = arena.allocate(Plan__TaskScan.self)
                plan__task_scan__init(t)
                (t.pointee.n_parts, t.pointee.parts) = try e.list(shares) { share in
                    e.new(Plan__ScanPart.self) { x in
                        plan__scan_part__init(x)
                        x.pointee.file = UInt32(clamping: share.file)
                        x.pointee.whole = share.range == nil ? 1 : 0
                        x.pointee.start = UInt64(max(0, share.range?.lowerBound ?? 0))
                        x.pointee.end = UInt64(max(0, share.range?.upperBound ?? 0))
                    }
                }
                return t
            }
            (p.pointee.n_layout, p.pointee.layout) = try e.list(stage.layout ?? []) { (slices) throws(SQLError) in
                let t = arena.allocate(Plan__TaskReads.self)
                plan__task_reads__init(t)
                (t.pointee.n_slices, t.pointee.slices) = try e.list(slices) { slice in
                    e.new(Plan__InputSlice.self) { x in
                        plan__input_slice__init(x)
                        x.pointee.stage = UInt32(clamping: slice.stage)
                        x.pointee.first_bucket = UInt32(clamping: slice.buckets.lowerBound)
                        x.pointee.buckets = UInt32(clamping: slice.buckets.count)
                        x.pointee.all_producers = slice.producers == nil ? 1 : 0
                        x.pointee.first_producer = UInt32(clamping: slice.producers?.lowerBound ?? 0)
                        x.pointee.producers = UInt32(clamping: slice.producers?.count ?? 0)
                    }
                }
                return t
            }
            return packed(p)
        }
        guard bytes.count <= maxBytes else { throw SQLError.execution("Invalid plan: \(bytes.count) bytes is more than a plan may have") }
        try checkDepth(bytes, descriptor: plan__stage__descriptor)
        return bytes
    }

    /// A stage from its wire form, checked (`QueryStage.check`) before anything runs it.
    public static func decodeStage(_ bytes: [UInt8]) throws(SQLError) -> QueryStage {
        guard bytes.count <= maxBytes else { throw SQLError.execution("Invalid plan: \(bytes.count) bytes is more than a plan may have") }
        try checkDepth(bytes, descriptor: plan__stage__descriptor)
        guard let p = bytes.withUnsafeBufferPointer({ plan__stage__unpack(nil, $0.count, $0.baseAddress) }) else {
            throw Decoder.error("not a protobuf encoding of a stage")
        }
        defer { plan__stage__free_unpacked(p, nil) }
        let s = p.pointee
        guard s.version == version else { throw Decoder.error("version \(s.version); this build reads version \(version)") }
        let d = Decoder()
        func ints(_ raw: UnsafeMutablePointer<UInt32>?, _ n: Int, _ what: String) throws(SQLError) -> [Int] {
            guard n > 0 else { return [] }
            guard let raw else { throw Decoder.error("\(what) are missing") }
            var out: [Int] = []
            for i in 0..<n { out.append(try d.int(UInt64(raw[i]), what)) }
            return out
        }
        let keys = try d.list(s.hash_keys, s.n_hash_keys, d.expr)
        let output: StageOutput = keys.isEmpty && s.buckets == 1 ? .single : .hash(keys: keys, partitions: try d.int(UInt64(s.buckets), "buckets"))
        guard case .gather(let combine) = try d.exchange(try d.required(s.combine, "how a task combines its rows").pointee) else {
            throw Decoder.error("a stage combines its rows with a gather")
        }
        let shares = try d.list(s.task_scans, s.n_task_scans) { (t) throws(SQLError) -> [ScanShare] in
            let scan = try d.required(t, "a task's scan").pointee
            return try d.list(scan.parts, scan.n_parts) { (p) throws(SQLError) -> ScanShare in
                let x = try d.required(p, "a scan part").pointee
                let file = Int(x.file)
                if x.whole != 0 { return ScanShare(file: file) }
                let start = try d.int(x.start, "range start"), end = try d.int(x.end, "range end")
                guard start <= end else { throw Decoder.error("a scan part from \(start) to \(end)") }
                return ScanShare(file: file, range: start..<end)
            }
        }
        // Bounded here (UInt32 fields add up without overflow in Int); QueryStage.check bounds them against the stage.
        let layout = try d.list(s.layout, s.n_layout) { (t) throws(SQLError) -> [InputSlice] in
            let reads = try d.required(t, "a task's reads").pointee
            return try d.list(reads.slices, reads.n_slices) { (p) throws(SQLError) -> InputSlice in
                let x = try d.required(p, "an input slice").pointee
                let first = Int(x.first_bucket)
                let producers = x.all_producers != 0 ? nil : Int(x.first_producer)..<(Int(x.first_producer) + Int(x.producers))
                return InputSlice(stage: Int(x.stage), buckets: first..<(first + Int(x.buckets)), producers: producers)
            }
        }
        let stage = QueryStage(id: Int(s.id), plan: try d.node(s.fragment), output: output, combine: combine, tasks: Int(s.tasks),
                               dependsOn: try ints(s.depends_on, s.n_depends_on, "stage dependencies"),
                               subqueries: try ints(s.subquery_stages, s.n_subquery_stages, "subquery stages"),
                               subqueryTypes: try d.list(s.subquery_types, s.n_subquery_types, d.dataType),
                               scanShares: shares.isEmpty ? nil : shares, layout: layout.isEmpty ? nil : layout)
        try stage.check()
        return stage
    }

    private static func checkDepth(_ bytes: [UInt8]) throws(SQLError) {
        try checkDepth(bytes, descriptor: plan__query__descriptor)
    }

    private static func checkDepth(_ bytes: [UInt8], descriptor: ProtobufCMessageDescriptor) throws(SQLError) {
        let depth = bytes.withUnsafeBytes { b in withUnsafePointer(to: descriptor) { messageDepth(b, $0, limit: maxDepth) } }
        guard let depth else { throw Decoder.error("not a protobuf encoding of a plan") }
        guard depth <= maxDepth else { throw Decoder.error("nested more than \(maxDepth) levels deep") }
    }
}

// MARK: - encoding

/// Builds protobuf-c structs for a plan in an arena that outlives the packing.
private struct Encoder {
    let arena: Arena

    func new<C>(_ type: C.Type, _ initialize: (UnsafeMutablePointer<C>) -> Void) -> UnsafeMutablePointer<C> {
        let p = arena.allocate(C.self)
        initialize(p)
        return p
    }

    /// A repeated message field: its count and array of pointers.
    func list<E, C>(_ values: [E], _ convert: (E) throws(SQLError) -> UnsafeMutablePointer<C>) throws(SQLError) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<C>?>?) {
        guard !values.isEmpty else { return (0, nil) }
        let p = arena.allocate(UnsafeMutablePointer<C>?.self, count: values.count)
        for (i, v) in values.enumerated() { p[i] = try convert(v) }
        return (values.count, p)
    }

    func dataType(_ t: DataType) -> UnsafeMutablePointer<Plan__DataType> {
        new(Plan__DataType.self) { p in
            plan__data_type__init(p)
            switch t {
            case .boolean: p.pointee.kind = PLAN__DATA_TYPE__KIND__BOOLEAN
            case .integer: p.pointee.kind = PLAN__DATA_TYPE__KIND__INTEGER
            case .bigint: p.pointee.kind = PLAN__DATA_TYPE__KIND__BIGINT
            case .tinyint: p.pointee.kind = PLAN__DATA_TYPE__KIND__TINYINT
            case .smallint: p.pointee.kind = PLAN__DATA_TYPE__KIND__SMALLINT
            case .hugeint: p.pointee.kind = PLAN__DATA_TYPE__KIND__HUGEINT
            case .utinyint: p.pointee.kind = PLAN__DATA_TYPE__KIND__UTINYINT
            case .usmallint: p.pointee.kind = PLAN__DATA_TYPE__KIND__USMALLINT
            case .uinteger: p.pointee.kind = PLAN__DATA_TYPE__KIND__UINTEGER
            case .ubigint: p.pointee.kind = PLAN__DATA_TYPE__KIND__UBIGINT
            case .double: p.pointee.kind = PLAN__DATA_TYPE__KIND__DOUBLE
            case .decimal(let precision, let scale):
                p.pointee.kind = PLAN__DATA_TYPE__KIND__DECIMAL
                p.pointee.precision = UInt32(clamping: precision)
                p.pointee.scale = UInt32(clamping: scale)
            case .varchar: p.pointee.kind = PLAN__DATA_TYPE__KIND__VARCHAR
            case .date: p.pointee.kind = PLAN__DATA_TYPE__KIND__DATE
            case .timestamp: p.pointee.kind = PLAN__DATA_TYPE__KIND__TIMESTAMP
            case .interval: p.pointee.kind = PLAN__DATA_TYPE__KIND__INTERVAL
            case .null: p.pointee.kind = PLAN__DATA_TYPE__KIND__NULL_TYPE
            }
        }
    }

    func field(_ f: Field) -> UnsafeMutablePointer<Plan__Field> {
        new(Plan__Field.self) { p in
            plan__field__init(p)
            p.pointee.name = arena.string(f.name)
            p.pointee.type = dataType(f.type)
        }
    }

    func schema(_ s: Schema) -> UnsafeMutablePointer<Plan__Schema> {
        new(Plan__Schema.self) { p in
            plan__schema__init(p)
            (p.pointee.n_fields, p.pointee.fields) = (try? list(s.fields) { field($0) }) ?? (0, nil)
        }
    }

    func value(_ v: Value) -> UnsafeMutablePointer<Plan__Value> {
        new(Plan__Value.self) { p in
            plan__value__init(p)
            switch v {
            case .null:
                p.pointee.kind_case = PLAN__VALUE__KIND_NULL_VALUE
                p.pointee.null_value = 1
            case .bool(let b):
                p.pointee.kind_case = PLAN__VALUE__KIND_BOOL_VALUE
                p.pointee.bool_value = b ? 1 : 0
            case .int(let i):
                p.pointee.kind_case = PLAN__VALUE__KIND_INT_VALUE
                p.pointee.int_value = i
            case .wide(let w):
                p.pointee.kind_case = PLAN__VALUE__KIND_WIDE_VALUE
                p.pointee.wide_value = arena.bytes(withUnsafeBytes(of: w.littleEndian) { Array($0) })
            case .double(let d):
                p.pointee.kind_case = PLAN__VALUE__KIND_DOUBLE_VALUE
                p.pointee.double_value = d
            case .string(let s):
                p.pointee.kind_case = PLAN__VALUE__KIND_STRING_VALUE
                p.pointee.string_value = arena.string(s)
            case .interval(let i):
                p.pointee.kind_case = PLAN__VALUE__KIND_INTERVAL_VALUE
                p.pointee.interval_value = new(Plan__Interval.self) { q in
                    plan__interval__init(q)
                    q.pointee.months = i.months
                    q.pointee.days = i.days
                    q.pointee.micros = i.micros
                }
            }
        }
    }

    func expr(_ e: BoundExpr) throws(SQLError) -> UnsafeMutablePointer<Plan__Expr> {
        let p = arena.allocate(Plan__Expr.self)
        plan__expr__init(p)
        switch e {
        case .column(let i, let t):
            p.pointee.kind_case = PLAN__EXPR__KIND_COLUMN
            p.pointee.column = new(Plan__ColumnRef.self) { c in
                plan__column_ref__init(c)
                c.pointee.index = UInt32(clamping: i)
                c.pointee.type = dataType(t)
            }
        case .literal(let v, let t):
            p.pointee.kind_case = PLAN__EXPR__KIND_LITERAL
            p.pointee.literal = new(Plan__Literal.self) { c in
                plan__literal__init(c)
                c.pointee.value = value(v)
                c.pointee.type = dataType(t)
            }
        case .call(let f, let args, let t):
            let c = arena.allocate(Plan__Call.self)
            plan__call__init(c)
            c.pointee.function = arena.string(f.rawValue)
            (c.pointee.n_arguments, c.pointee.arguments) = try list(args, expr)
            c.pointee.type = dataType(t)
            p.pointee.kind_case = PLAN__EXPR__KIND_CALL
            p.pointee.call = c
        case .cast(let x, let t):
            let c = arena.allocate(Plan__Cast.self)
            plan__cast__init(c)
            c.pointee.input = try expr(x)
            c.pointee.type = dataType(t)
            p.pointee.kind_case = PLAN__EXPR__KIND_CAST
            p.pointee.cast = c
        case .caseWhen(let whens, let otherwise, let t):
            let c = arena.allocate(Plan__CaseWhen.self)
            plan__case_when__init(c)
            (c.pointee.n_whens, c.pointee.whens) = try list(whens) { (w) throws(SQLError) in
                let q = arena.allocate(Plan__When.self)
                plan__when__init(q)
                q.pointee.condition = try expr(w.condition)
                q.pointee.result = try expr(w.result)
                return q
            }
            if let otherwise { c.pointee.otherwise = try expr(otherwise) }
            c.pointee.type = dataType(t)
            p.pointee.kind_case = PLAN__EXPR__KIND_CASE_WHEN
            p.pointee.case_when = c
        case .inList(let x, let items, let negated):
            let c = arena.allocate(Plan__InList.self)
            plan__in_list__init(c)
            c.pointee.input = try expr(x)
            (c.pointee.n_items, c.pointee.items) = try list(items, expr)
            c.pointee.negated = negated ? 1 : 0
            p.pointee.kind_case = PLAN__EXPR__KIND_IN_LIST
            p.pointee.in_list = c
        case .subqueryValue(let i, let t):
            p.pointee.kind_case = PLAN__EXPR__KIND_SUBQUERY_VALUE
            p.pointee.subquery_value = new(Plan__SubqueryValue.self) { c in
                plan__subquery_value__init(c)
                c.pointee.index = UInt32(clamping: i)
                c.pointee.type = dataType(t)
            }
        case .inSubqueryRows(let x, let i, let negated):
            let c = arena.allocate(Plan__InSubqueryRows.self)
            plan__in_subquery_rows__init(c)
            c.pointee.input = try expr(x)
            c.pointee.index = UInt32(clamping: i)
            c.pointee.negated = negated ? 1 : 0
            p.pointee.kind_case = PLAN__EXPR__KIND_IN_SUBQUERY_ROWS
            p.pointee.in_subquery_rows = c
        case .inSubquery, .scalarSubquery, .aggregate, .exists, .window:
            throw SQLError.execution("Invalid plan: a physical plan cannot hold \(e) (only a logical plan may)")
        }
        return p
    }

    func sortKey(_ k: SortKey) throws(SQLError) -> UnsafeMutablePointer<Plan__SortKey> {
        let p = arena.allocate(Plan__SortKey.self)
        plan__sort_key__init(p)
        p.pointee.expr = try expr(k.expr)
        p.pointee.ascending = k.ascending ? 1 : 0
        p.pointee.nulls_first = k.nullsFirst ? 1 : 0
        return p
    }

    func aggregateCall(_ a: AggregateCall) throws(SQLError) -> UnsafeMutablePointer<Plan__AggregateCall> {
        let p = arena.allocate(Plan__AggregateCall.self)
        plan__aggregate_call__init(p)
        p.pointee.kind = arena.string(a.kind.rawValue)
        if let arg = a.argument { p.pointee.argument = try expr(arg) }
        if let extra = a.extra { p.pointee.extra = try expr(extra) }
        p.pointee.distinct = a.distinct ? 1 : 0
        p.pointee.type = dataType(a.type)
        (p.pointee.n_order_by, p.pointee.order_by) = try list(a.orderBy, sortKey)
        return p
    }

    func windowCall(_ c: WindowCall) throws(SQLError) -> UnsafeMutablePointer<Plan__WindowCall> {
        let p = arena.allocate(Plan__WindowCall.self)
        plan__window_call__init(p)
        p.pointee.function = arena.string(c.function.name)
        (p.pointee.n_arguments, p.pointee.arguments) = try list(c.arguments, expr)
        p.pointee.distinct = c.distinct ? 1 : 0
        p.pointee.type = dataType(c.type)
        p.pointee.frame_mode = arena.string(c.frame.mode.rawValue)
        p.pointee.frame_start = try frameBound(c.frame.start)
        p.pointee.frame_end = try frameBound(c.frame.end)
        p.pointee.frame_exclude = arena.string(c.frame.exclude.rawValue)
        return p
    }

    func frameBound(_ b: FrameBound) throws(SQLError) -> UnsafeMutablePointer<Plan__FrameBound> {
        let p = arena.allocate(Plan__FrameBound.self)
        plan__frame_bound__init(p)
        switch b {
        case .unboundedPreceding: p.pointee.kind = PLAN__FRAME_BOUND__KIND__UNBOUNDED_PRECEDING
        case .preceding(let e): p.pointee.kind = PLAN__FRAME_BOUND__KIND__PRECEDING; p.pointee.offset = try expr(e)
        case .currentRow: p.pointee.kind = PLAN__FRAME_BOUND__KIND__CURRENT_ROW
        case .following(let e): p.pointee.kind = PLAN__FRAME_BOUND__KIND__FOLLOWING; p.pointee.offset = try expr(e)
        case .unboundedFollowing: p.pointee.kind = PLAN__FRAME_BOUND__KIND__UNBOUNDED_FOLLOWING
        }
        return p
    }

    func errorPolicy(_ e: ErrorPolicy) -> UnsafeMutablePointer<Plan__ErrorPolicy> {
        new(Plan__ErrorPolicy.self) { p in
            plan__error_policy__init(p)
            p.pointee.quarantine_path = arena.string("")
            switch e {
            case .fail: p.pointee.mode = PLAN__ERROR_POLICY__MODE__FAIL
            case .skip: p.pointee.mode = PLAN__ERROR_POLICY__MODE__SKIP
            case .quarantine(let path):
                p.pointee.mode = PLAN__ERROR_POLICY__MODE__QUARANTINE
                p.pointee.quarantine_path = arena.string(path)
            }
        }
    }

    func scan(_ s: ScanSpec) throws(SQLError) -> UnsafeMutablePointer<Plan__Scan> {
        let p = arena.allocate(Plan__Scan.self)
        plan__scan__init(p)
        p.pointee.format = new(Plan__FileFormat.self) { f in
            plan__file_format__init(f)
            switch s.format {
            case .csv(let d):
                f.pointee.kind_case = PLAN__FILE_FORMAT__KIND_CSV
                f.pointee.csv = new(Plan__CsvDialect.self) { c in
                    plan__csv_dialect__init(c)
                    c.pointee.delimiter = UInt32(d.delimiter)
                    c.pointee.quote = UInt32(d.quote)
                    c.pointee.escape = UInt32(d.escape)
                    c.pointee.header = d.header ? 1 : 0
                    c.pointee.null_string = arena.string(d.nullString)
                    c.pointee.on_error = errorPolicy(d.onError)
                }
            case .json(let policy):
                f.pointee.kind_case = PLAN__FILE_FORMAT__KIND_JSON
                f.pointee.json = errorPolicy(policy)
            case .sluice:
                f.pointee.kind_case = PLAN__FILE_FORMAT__KIND_SLUICE
                f.pointee.sluice = 1
            }
        }
        (p.pointee.n_files, p.pointee.files) = try list(s.files) { (file) throws(SQLError) in
            new(Plan__DataFile.self) { f in
                plan__data_file__init(f)
                f.pointee.path = arena.string(file.path)
                f.pointee.size = UInt64(max(0, file.size))
                if let r = file.range {
                    f.pointee.has_range = 1
                    f.pointee.range_start = UInt64(max(0, r.lowerBound))
                    f.pointee.range_end = UInt64(max(0, r.upperBound))
                }
                (f.pointee.n_partitions, f.pointee.partitions) = (try? list(file.partitions) { part in
                    new(Plan__Partition.self) { q in
                        plan__partition__init(q)
                        q.pointee.key = arena.string(part.key)
                        q.pointee.value = arena.string(part.value)
                    }
                }) ?? (0, nil)
            }
        }
        p.pointee.data_schema = schema(s.dataSchema)
        (p.pointee.n_partition_fields, p.pointee.partition_fields) = try list(s.partitionFields) { field($0) }
        p.pointee.n_fields = s.fields.count
        p.pointee.fields = arena.array(s.fields) { UInt32(clamping: $0) }
        (p.pointee.n_filters, p.pointee.filters) = try list(s.filters, expr)
        p.pointee.label = arena.string(s.label)
        return p
    }

    func node(_ plan: PhysicalPlan) throws(SQLError) -> UnsafeMutablePointer<Plan__Node> {
        let p = arena.allocate(Plan__Node.self)
        plan__node__init(p)
        p.pointee.id = UInt32(clamping: plan.id)
        p.pointee.schema = schema(plan.schema)
        (p.pointee.n_inputs, p.pointee.inputs) = try list(plan.inputs, node)
        switch plan.node {
        case .scan(let s):
            p.pointee.kind_case = PLAN__NODE__KIND_SCAN
            p.pointee.scan = try scan(s)
        case .values(let batches):
            let v = arena.allocate(Plan__Values.self)
            plan__values__init(v)
            v.pointee.n_batches = batches.count
            v.pointee.batches = arena.array(batches) { arena.bytes(BatchCodec.encode($0)) }
            p.pointee.kind_case = PLAN__NODE__KIND_VALUES
            p.pointee.values = v
        case .union:
            p.pointee.kind_case = PLAN__NODE__KIND_UNION_ALL
            p.pointee.union_all = new(Plan__UnionAll.self) { plan__union_all__init($0) }
        case .recursiveCTE(let id, let distinct):
            p.pointee.kind_case = PLAN__NODE__KIND_RECURSIVE_CTE
            p.pointee.recursive_cte = new(Plan__RecursiveCte.self) { c in
                plan__recursive_cte__init(c)
                c.pointee.id = UInt32(clamping: id)
                c.pointee.distinct = distinct ? 1 : 0
            }
        case .workingTable(let id):
            p.pointee.kind_case = PLAN__NODE__KIND_WORKING_TABLE
            p.pointee.working_table = new(Plan__WorkingTable.self) { c in
                plan__working_table__init(c)
                c.pointee.id = UInt32(clamping: id)
            }
        case .cteScan(let id):
            p.pointee.kind_case = PLAN__NODE__KIND_CTE_SCAN
            p.pointee.cte_scan = new(Plan__CteScan.self) { c in
                plan__cte_scan__init(c)
                c.pointee.id = UInt32(clamping: id)
            }
        case .filter(let e):
            let f = arena.allocate(Plan__Filter.self)
            plan__filter__init(f)
            f.pointee.predicate = try expr(e)
            p.pointee.kind_case = PLAN__NODE__KIND_FILTER
            p.pointee.filter = f
        case .project(let es):
            let f = arena.allocate(Plan__Project.self)
            plan__project__init(f)
            (f.pointee.n_exprs, f.pointee.exprs) = try list(es, expr)
            p.pointee.kind_case = PLAN__NODE__KIND_PROJECT
            p.pointee.project = f
        case .aggregate(let groups, let aggregates, let phase):
            let a = arena.allocate(Plan__Aggregate.self)
            plan__aggregate__init(a)
            (a.pointee.n_groups, a.pointee.groups) = try list(groups, expr)
            (a.pointee.n_aggregates, a.pointee.aggregates) = try list(aggregates, aggregateCall)
            switch phase {
            case .single: a.pointee.phase = PLAN__AGGREGATE__PHASE__SINGLE
            case .partial: a.pointee.phase = PLAN__AGGREGATE__PHASE__PARTIAL
            case .final: a.pointee.phase = PLAN__AGGREGATE__PHASE__FINAL
            }
            p.pointee.kind_case = PLAN__NODE__KIND_AGGREGATE
            p.pointee.aggregate = a
        case .hashJoin(let kind, let probeKeys, let buildKeys, let residual, let build):
            let j = arena.allocate(Plan__HashJoin.self)
            plan__hash_join__init(j)
            j.pointee.kind = arena.string(kind.rawValue)
            (j.pointee.n_probe_keys, j.pointee.probe_keys) = try list(probeKeys, expr)
            (j.pointee.n_build_keys, j.pointee.build_keys) = try list(buildKeys, expr)
            if let residual { j.pointee.residual = try expr(residual) }
            j.pointee.build = build == .shared ? PLAN__HASH_JOIN__BUILD__SHARED : PLAN__HASH_JOIN__BUILD__PARTITIONED
            p.pointee.kind_case = PLAN__NODE__KIND_HASH_JOIN
            p.pointee.hash_join = j
        case .nestedLoopJoin(let kind, let condition):
            let j = arena.allocate(Plan__NestedLoopJoin.self)
            plan__nested_loop_join__init(j)
            j.pointee.kind = arena.string(kind.rawValue)
            if let condition { j.pointee.condition = try expr(condition) }
            p.pointee.kind_case = PLAN__NODE__KIND_NESTED_LOOP_JOIN
            p.pointee.nested_loop_join = j
        case .window(let partition, let order, let calls):
            let w = arena.allocate(Plan__Window.self)
            plan__window__init(w)
            (w.pointee.n_partition_by, w.pointee.partition_by) = try list(partition, expr)
            (w.pointee.n_order_by, w.pointee.order_by) = try list(order, sortKey)
            (w.pointee.n_calls, w.pointee.calls) = try list(calls, windowCall)
            p.pointee.kind_case = PLAN__NODE__KIND_WINDOW
            p.pointee.window = w
        case .sort(let keys):
            let s = arena.allocate(Plan__Sort.self)
            plan__sort__init(s)
            (s.pointee.n_keys, s.pointee.keys) = try list(keys, sortKey)
            p.pointee.kind_case = PLAN__NODE__KIND_SORT
            p.pointee.sort = s
        case .topN(let keys, let limit):
            let t = arena.allocate(Plan__TopN.self)
            plan__top_n__init(t)
            (t.pointee.n_keys, t.pointee.keys) = try list(keys, sortKey)
            t.pointee.limit = UInt64(max(0, limit))
            p.pointee.kind_case = PLAN__NODE__KIND_TOP_N
            p.pointee.top_n = t
        case .limit(let limit, let offset):
            p.pointee.kind_case = PLAN__NODE__KIND_LIMIT
            p.pointee.limit = new(Plan__Limit.self) { l in
                plan__limit__init(l)
                l.pointee.has_limit = limit == nil ? 0 : 1
                l.pointee.limit = UInt64(max(0, limit ?? 0))
                l.pointee.offset = UInt64(max(0, offset))
            }
        case .exchange(let e):
            p.pointee.kind_case = PLAN__NODE__KIND_EXCHANGE
            p.pointee.exchange = try exchange(e)
        case .write(let w):
            let x = arena.allocate(Plan__Write.self)
            plan__write__init(x)
            x.pointee.directory = arena.string(w.directory)
            x.pointee.format = arena.string(w.format)
            (x.pointee.n_partition_by, x.pointee.partition_by) = try list(w.partitionBy) { arena.string($0) }
            x.pointee.header = w.header ? 1 : 0
            x.pointee.delimiter = arena.string(w.delimiter)
            x.pointee.file_name = arena.string(w.fileName)
            p.pointee.kind_case = PLAN__NODE__KIND_WRITE
            p.pointee.write = x
        case .stageInput(let stage, let e):
            let x = arena.allocate(Plan__StageInput.self)
            plan__stage_input__init(x)
            x.pointee.stage = UInt32(clamping: stage)
            x.pointee.exchange = try exchange(e)
            p.pointee.kind_case = PLAN__NODE__KIND_STAGE_INPUT
            p.pointee.stage_input = x
        }
        return p
    }

    func exchange(_ e: Exchange) throws(SQLError) -> UnsafeMutablePointer<Plan__Exchange> {
        let x = arena.allocate(Plan__Exchange.self)
        plan__exchange__init(x)
        switch e {
        case .repartition(let keys):
            let r = arena.allocate(Plan__Repartition.self)
            plan__repartition__init(r)
            (r.pointee.n_keys, r.pointee.keys) = try list(keys, expr)
            x.pointee.kind_case = PLAN__EXCHANGE__KIND_REPARTITION
            x.pointee.repartition = r
        case .gather(let order):
            x.pointee.kind_case = PLAN__EXCHANGE__KIND_GATHER
            switch order {
            case .any: x.pointee.gather = PLAN__EXCHANGE__GATHER__ANY
            case .preserve: x.pointee.gather = PLAN__EXCHANGE__GATHER__PRESERVE
            case .merge(let keys):
                x.pointee.gather = PLAN__EXCHANGE__GATHER__MERGE
                (x.pointee.n_keys, x.pointee.keys) = try list(keys, sortKey)
            }
        case .broadcast:
            x.pointee.kind_case = PLAN__EXCHANGE__KIND_BROADCAST
            x.pointee.broadcast = 1
        }
        return x
    }
}

// MARK: - decoding

/// Reads unpacked protobuf-c structs into plan values, refusing anything missing or out of range.
private struct Decoder {
    static func error(_ why: String) -> SQLError { .execution("Invalid plan: \(why)") }

    func required<C>(_ p: UnsafeMutablePointer<C>?, _ what: String) throws(SQLError) -> UnsafeMutablePointer<C> {
        guard let p else { throw Self.error("\(what) is missing") }
        return p
    }

    func list<C, S>(_ p: UnsafeMutablePointer<UnsafeMutablePointer<C>?>?, _ n: Int, _ convert: (UnsafeMutablePointer<C>?) throws(SQLError) -> S) throws(SQLError) -> [S] {
        guard n > 0 else { return [] }
        guard let p else { throw Self.error("a list of \(n) has no elements") }
        var out: [S] = []
        out.reserveCapacity(n)
        for i in 0..<n { out.append(try convert(p[i])) }
        return out
    }

    func int(_ v: UInt64, _ what: String) throws(SQLError) -> Int {
        guard let i = Int(exactly: v), i <= Int(Int32.max) * 1024 else { throw Self.error("\(what) \(v) is out of range") }
        return i
    }

    func dataType(_ p: UnsafeMutablePointer<Plan__DataType>?) throws(SQLError) -> DataType {
        let t = try required(p, "a type").pointee
        switch t.kind {
        case PLAN__DATA_TYPE__KIND__BOOLEAN: return .boolean
        case PLAN__DATA_TYPE__KIND__INTEGER: return .integer
        case PLAN__DATA_TYPE__KIND__BIGINT: return .bigint
        case PLAN__DATA_TYPE__KIND__TINYINT: return .tinyint
        case PLAN__DATA_TYPE__KIND__SMALLINT: return .smallint
        case PLAN__DATA_TYPE__KIND__HUGEINT: return .hugeint
        case PLAN__DATA_TYPE__KIND__UTINYINT: return .utinyint
        case PLAN__DATA_TYPE__KIND__USMALLINT: return .usmallint
        case PLAN__DATA_TYPE__KIND__UINTEGER: return .uinteger
        case PLAN__DATA_TYPE__KIND__UBIGINT: return .ubigint
        case PLAN__DATA_TYPE__KIND__DOUBLE: return .double
        case PLAN__DATA_TYPE__KIND__DECIMAL:
            guard (1...UInt32(DataType.maxDecimalPrecision)).contains(t.precision), t.scale <= t.precision else {
                throw Self.error("DECIMAL(\(t.precision),\(t.scale)) is out of range")
            }
            return .decimal(precision: Int(t.precision), scale: Int(t.scale))
        case PLAN__DATA_TYPE__KIND__VARCHAR: return .varchar
        case PLAN__DATA_TYPE__KIND__DATE: return .date
        case PLAN__DATA_TYPE__KIND__TIMESTAMP: return .timestamp
        case PLAN__DATA_TYPE__KIND__INTERVAL: return .interval
        case PLAN__DATA_TYPE__KIND__NULL_TYPE: return .null
        default: throw Self.error("unknown type kind \(t.kind.rawValue)")
        }
    }

    func field(_ p: UnsafeMutablePointer<Plan__Field>?) throws(SQLError) -> Field {
        let f = try required(p, "a field").pointee
        return Field(cString(f.name), try dataType(f.type))
    }

    func schema(_ p: UnsafeMutablePointer<Plan__Schema>?) throws(SQLError) -> Schema {
        let s = try required(p, "a schema").pointee
        return Schema(try list(s.fields, s.n_fields, field))
    }

    func value(_ p: UnsafeMutablePointer<Plan__Value>?) throws(SQLError) -> Value {
        let v = try required(p, "a value").pointee
        switch v.kind_case {
        case PLAN__VALUE__KIND_NULL_VALUE: return .null
        case PLAN__VALUE__KIND_BOOL_VALUE: return .bool(v.bool_value != 0)
        case PLAN__VALUE__KIND_INT_VALUE: return .int(v.int_value)
        case PLAN__VALUE__KIND_WIDE_VALUE:
            let bytes = byteArray(v.wide_value)
            guard bytes.count == 16 else { throw Self.error("a DECIMAL value of \(bytes.count) bytes, not 16") }
            return .wide(Int128(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: Int128.self) }))
        case PLAN__VALUE__KIND_DOUBLE_VALUE: return .double(v.double_value)
        case PLAN__VALUE__KIND_STRING_VALUE: return .string(cString(v.string_value))
        case PLAN__VALUE__KIND_INTERVAL_VALUE:
            let i = try required(v.interval_value, "an interval").pointee
            return .interval(Interval(months: i.months, days: i.days, micros: i.micros))
        default: throw Self.error("a value of no kind")
        }
    }

    func expr(_ p: UnsafeMutablePointer<Plan__Expr>?) throws(SQLError) -> BoundExpr {
        let e = try required(p, "an expression").pointee
        switch e.kind_case {
        case PLAN__EXPR__KIND_COLUMN:
            let c = try required(e.column, "a column").pointee
            return .column(try int(UInt64(c.index), "column"), try dataType(c.type))
        case PLAN__EXPR__KIND_LITERAL:
            let c = try required(e.literal, "a literal").pointee
            let v = try value(c.value), t = try dataType(c.type)
            if let range = t.integerRange, let i = v.integer, !range.contains(i) { throw Self.error("literal \(i) is out of range for \(t)") }
            return .literal(v, t)
        case PLAN__EXPR__KIND_CALL:
            let c = try required(e.call, "a call").pointee
            let name = cString(c.function)
            guard let f = ScalarFunction(rawValue: name) else { throw Self.error("unknown function \(name)()") }
            return .call(f, try list(c.arguments, c.n_arguments, expr), try dataType(c.type))
        case PLAN__EXPR__KIND_CAST:
            let c = try required(e.cast, "a cast").pointee
            return .cast(try expr(c.input), try dataType(c.type))
        case PLAN__EXPR__KIND_CASE_WHEN:
            let c = try required(e.case_when, "a CASE").pointee
            let whens = try list(c.whens, c.n_whens) { (w) throws(SQLError) -> BoundExpr.When in
                let x = try required(w, "a WHEN").pointee
                return BoundExpr.When(condition: try expr(x.condition), result: try expr(x.result))
            }
            return .caseWhen(whens, otherwise: try c.otherwise.map { (o) throws(SQLError) in try expr(o) }, try dataType(c.type))
        case PLAN__EXPR__KIND_IN_LIST:
            let c = try required(e.in_list, "an IN list").pointee
            return .inList(try expr(c.input), try list(c.items, c.n_items, expr), negated: c.negated != 0)
        case PLAN__EXPR__KIND_SUBQUERY_VALUE:
            let c = try required(e.subquery_value, "a subquery value").pointee
            return .subqueryValue(try int(UInt64(c.index), "subquery"), try dataType(c.type))
        case PLAN__EXPR__KIND_IN_SUBQUERY_ROWS:
            let c = try required(e.in_subquery_rows, "an IN subquery").pointee
            return .inSubqueryRows(try expr(c.input), try int(UInt64(c.index), "subquery"), negated: c.negated != 0)
        default:
            throw Self.error("an expression of no kind")
        }
    }

    func sortKey(_ p: UnsafeMutablePointer<Plan__SortKey>?) throws(SQLError) -> SortKey {
        let k = try required(p, "a sort key").pointee
        return SortKey(expr: try expr(k.expr), ascending: k.ascending != 0, nullsFirst: k.nulls_first != 0)
    }

    func aggregateCall(_ p: UnsafeMutablePointer<Plan__AggregateCall>?) throws(SQLError) -> AggregateCall {
        let a = try required(p, "an aggregate").pointee
        let name = cString(a.kind)
        guard let kind = AggregateKind(rawValue: name) else { throw Self.error("unknown aggregate \(name)()") }
        return AggregateCall(kind: kind, argument: try a.argument.map { (x) throws(SQLError) in try expr(x) }, distinct: a.distinct != 0,
                             type: try dataType(a.type), extra: try a.extra.map { (x) throws(SQLError) in try expr(x) },
                             orderBy: try list(a.order_by, a.n_order_by, sortKey))
    }

    func windowCall(_ p: UnsafeMutablePointer<Plan__WindowCall>?) throws(SQLError) -> WindowCall {
        let c = try required(p, "a window call").pointee
        let name = cString(c.function)
        guard let function = WindowFunctionKind(name: name) else { throw Self.error("unknown window function \(name)()") }
        guard let mode = FrameMode(rawValue: cString(c.frame_mode)) else { throw Self.error("unknown frame mode \(cString(c.frame_mode))") }
        guard let exclude = FrameExclude(rawValue: cString(c.frame_exclude)) else { throw Self.error("unknown frame exclusion \(cString(c.frame_exclude))") }
        let frame = WindowFrame(mode: mode, start: try frameBound(c.frame_start), end: try frameBound(c.frame_end), exclude: exclude)
        return WindowCall(function: function, arguments: try list(c.arguments, c.n_arguments, expr), distinct: c.distinct != 0, frame: frame,
                          type: try dataType(c.type), partitionBy: [], orderBy: [])
    }

    func frameBound(_ p: UnsafeMutablePointer<Plan__FrameBound>?) throws(SQLError) -> FrameBound {
        let b = try required(p, "a frame bound").pointee
        func offset() throws(SQLError) -> BoundExpr { try expr(try required(b.offset, "a frame offset")) }
        switch b.kind {
        case PLAN__FRAME_BOUND__KIND__UNBOUNDED_PRECEDING: return .unboundedPreceding
        case PLAN__FRAME_BOUND__KIND__PRECEDING: return .preceding(try offset())
        case PLAN__FRAME_BOUND__KIND__CURRENT_ROW: return .currentRow
        case PLAN__FRAME_BOUND__KIND__FOLLOWING: return .following(try offset())
        case PLAN__FRAME_BOUND__KIND__UNBOUNDED_FOLLOWING: return .unboundedFollowing
        default: throw Self.error("unknown frame bound \(b.kind.rawValue)")
        }
    }

    func joinKind(_ p: UnsafeMutablePointer<CChar>?) throws(SQLError) -> JoinKind {
        let name = cString(p)
        guard let k = JoinKind(rawValue: name) else { throw Self.error("unknown join kind \(name)") }
        return k
    }

    func errorPolicy(_ p: UnsafeMutablePointer<Plan__ErrorPolicy>?) throws(SQLError) -> ErrorPolicy {
        let e = try required(p, "an error policy").pointee
        switch e.mode {
        case PLAN__ERROR_POLICY__MODE__FAIL: return .fail
        case PLAN__ERROR_POLICY__MODE__SKIP: return .skip
        case PLAN__ERROR_POLICY__MODE__QUARANTINE: return .quarantine(cString(e.quarantine_path))
        default: throw Self.error("unknown error policy \(e.mode.rawValue)")
        }
    }

    func byte(_ v: UInt32, _ what: String) throws(SQLError) -> UInt8 {
        guard let b = UInt8(exactly: v) else { throw Self.error("CSV \(what) \(v) is not one byte") }
        return b
    }

    func scan(_ p: UnsafeMutablePointer<Plan__Scan>?) throws(SQLError) -> ScanSpec {
        let s = try required(p, "a scan").pointee
        let f = try required(s.format, "a file format").pointee
        let format: FileFormatSpec
        switch f.kind_case {
        case PLAN__FILE_FORMAT__KIND_CSV:
            let c = try required(f.csv, "a CSV dialect").pointee
            format = .csv(CSVDialect(delimiter: try byte(c.delimiter, "delimiter"), quote: try byte(c.quote, "quote"),
                                     escape: try byte(c.escape, "escape"), header: c.header != 0,
                                     nullString: cString(c.null_string), onError: try errorPolicy(c.on_error)))
        case PLAN__FILE_FORMAT__KIND_JSON: format = .json(onError: try errorPolicy(f.json))
        case PLAN__FILE_FORMAT__KIND_SLUICE: format = .sluice
        default: throw Self.error("a file format of no kind")
        }
        let files = try list(s.files, s.n_files) { (p) throws(SQLError) -> DataFile in
            let d = try required(p, "a file").pointee
            let parts = try list(d.partitions, d.n_partitions) { (q) throws(SQLError) -> DataFile.Partition in
                let x = try required(q, "a partition").pointee
                return DataFile.Partition(cString(x.key), cString(x.value))
            }
            var range: Range<Int>? = nil
            if d.has_range != 0 {
                let start = try int(d.range_start, "range start"), end = try int(d.range_end, "range end")
                guard start <= end else { throw Self.error("a file range from \(start) to \(end)") }
                range = start..<end
            }
            return DataFile(path: cString(d.path), size: try int(d.size, "file size"), partitions: parts, range: range)
        }
        var fields: [Int] = []
        if s.n_fields > 0 {
            guard let raw = s.fields else { throw Self.error("a scan's columns are missing") }
            for i in 0..<s.n_fields { fields.append(try int(UInt64(raw[i]), "scan column")) }
        }
        return ScanSpec(format: format, files: files, dataSchema: try schema(s.data_schema),
                        partitionFields: try list(s.partition_fields, s.n_partition_fields, field), fields: fields,
                        filters: try list(s.filters, s.n_filters, expr), label: cString(s.label))
    }

    func node(_ p: UnsafeMutablePointer<Plan__Node>?) throws(SQLError) -> PhysicalPlan {
        let n = try required(p, "a node").pointee
        let kind: PhysicalNode
        switch n.kind_case {
        case PLAN__NODE__KIND_SCAN:
            kind = .scan(try scan(n.scan))
        case PLAN__NODE__KIND_VALUES:
            let v = try required(n.values, "values").pointee
            var batches: [RecordBatch] = []
            if v.n_batches > 0 {
                guard let raw = v.batches else { throw Self.error("values are missing") }
                for i in 0..<v.n_batches {
                    var offset = 0
                    let bytes = byteArray(raw[i])
                    do { batches.append(try BatchCodec.decode(bytes, offset: &offset)) } catch { throw Self.error("values: \(error)") }
                    guard offset == bytes.count else { throw Self.error("values hold bytes after their batch") }
                }
            }
            kind = .values(batches)
        case PLAN__NODE__KIND_UNION_ALL:
            _ = try required(n.union_all, "a union")
            kind = .union
        case PLAN__NODE__KIND_RECURSIVE_CTE:
            let r = try required(n.recursive_cte, "a recursive CTE").pointee
            kind = .recursiveCTE(id: try int(UInt64(r.id), "recursive CTE"), distinct: r.distinct != 0)
        case PLAN__NODE__KIND_WORKING_TABLE:
            kind = .workingTable(id: try int(UInt64(try required(n.working_table, "a working table").pointee.id), "working table"))
        case PLAN__NODE__KIND_CTE_SCAN:
            kind = .cteScan(id: try int(UInt64(try required(n.cte_scan, "a CTE scan").pointee.id), "CTE"))
        case PLAN__NODE__KIND_FILTER:
            kind = .filter(try expr(try required(n.filter, "a filter").pointee.predicate))
        case PLAN__NODE__KIND_PROJECT:
            let x = try required(n.project, "a projection").pointee
            kind = .project(try list(x.exprs, x.n_exprs, expr))
        case PLAN__NODE__KIND_AGGREGATE:
            let a = try required(n.aggregate, "an aggregate").pointee
            let phase: AggregatePhase
            switch a.phase {
            case PLAN__AGGREGATE__PHASE__SINGLE: phase = .single
            case PLAN__AGGREGATE__PHASE__PARTIAL: phase = .partial
            case PLAN__AGGREGATE__PHASE__FINAL: phase = .final
            default: throw Self.error("unknown aggregate phase \(a.phase.rawValue)")
            }
            kind = .aggregate(groups: try list(a.groups, a.n_groups, expr), aggregates: try list(a.aggregates, a.n_aggregates, aggregateCall),
                              phase: phase)
        case PLAN__NODE__KIND_HASH_JOIN:
            let j = try required(n.hash_join, "a hash join").pointee
            let build: BuildDistribution
            switch j.build {
            case PLAN__HASH_JOIN__BUILD__SHARED: build = .shared
            case PLAN__HASH_JOIN__BUILD__PARTITIONED: build = .partitioned
            default: throw Self.error("unknown join build \(j.build.rawValue)")
            }
            kind = .hashJoin(kind: try joinKind(j.kind), probeKeys: try list(j.probe_keys, j.n_probe_keys, expr),
                             buildKeys: try list(j.build_keys, j.n_build_keys, expr),
                             residual: try j.residual.map { (r) throws(SQLError) in try expr(r) }, build: build)
        case PLAN__NODE__KIND_NESTED_LOOP_JOIN:
            let j = try required(n.nested_loop_join, "a nested-loop join").pointee
            kind = .nestedLoopJoin(kind: try joinKind(j.kind), condition: try j.condition.map { (c) throws(SQLError) in try expr(c) })
        case PLAN__NODE__KIND_WINDOW:
            let w = try required(n.window, "a window").pointee
            kind = .window(partitionBy: try list(w.partition_by, w.n_partition_by, expr), orderBy: try list(w.order_by, w.n_order_by, sortKey),
                           calls: try list(w.calls, w.n_calls, windowCall))
        case PLAN__NODE__KIND_SORT:
            let s = try required(n.sort, "a sort").pointee
            kind = .sort(try list(s.keys, s.n_keys, sortKey))
        case PLAN__NODE__KIND_TOP_N:
            let t = try required(n.top_n, "a top-N").pointee
            kind = .topN(try list(t.keys, t.n_keys, sortKey), limit: try int(t.limit, "limit"))
        case PLAN__NODE__KIND_LIMIT:
            let l = try required(n.limit, "a limit").pointee
            kind = .limit(limit: l.has_limit != 0 ? try int(l.limit, "limit") : nil, offset: try int(l.offset, "offset"))
        case PLAN__NODE__KIND_EXCHANGE:
            kind = .exchange(try exchange(try required(n.exchange, "an exchange").pointee))
        case PLAN__NODE__KIND_WRITE:
            let w = try required(n.write, "a write").pointee
            kind = .write(WriteSpec(directory: cString(w.directory), format: cString(w.format),
                                    partitionBy: try list(w.partition_by, w.n_partition_by) { cString($0) },
                                    header: w.header != 0, delimiter: cString(w.delimiter), fileName: cString(w.file_name)))
        case PLAN__NODE__KIND_STAGE_INPUT:
            let x = try required(n.stage_input, "a stage input").pointee
            kind = .stageInput(stage: try int(UInt64(x.stage), "stage"), exchange: try exchange(try required(x.exchange, "an exchange").pointee))
        default:
            throw Self.error("a node of no kind")
        }
        var plan = PhysicalPlan(kind, inputs: try list(n.inputs, n.n_inputs, node), schema: try schema(n.schema))
        plan.id = try int(UInt64(n.id), "node id")
        return plan
    }

    func exchange(_ x: Plan__Exchange) throws(SQLError) -> Exchange {
        switch x.kind_case {
        case PLAN__EXCHANGE__KIND_REPARTITION:
            let r = try required(x.repartition, "a repartition").pointee
            return .repartition(keys: try list(r.keys, r.n_keys, expr))
        case PLAN__EXCHANGE__KIND_GATHER:
            switch x.gather {
            case PLAN__EXCHANGE__GATHER__ANY: return .gather(.any)
            case PLAN__EXCHANGE__GATHER__PRESERVE: return .gather(.preserve)
            case PLAN__EXCHANGE__GATHER__MERGE: return .gather(.merge(try list(x.keys, x.n_keys, sortKey)))
            default: throw Self.error("unknown gather order \(x.gather.rawValue)")
            }
        case PLAN__EXCHANGE__KIND_BROADCAST: return .broadcast
        default: throw Self.error("an exchange of no kind")
        }
    }
}
