import Patterns
import Testing

struct PatternTests {
    @Test func matchesSearchesAndAnchors() throws {
        let m = try Pattern("b+").matcher()
        #expect(try m.contains("abbc"))
        #expect(try !m.contains("ac"))
        #expect(try !m.matchesWhole("abbc"))
        #expect(try m.matchesWhole("bbb"))
        #expect(try Pattern("É", options: .caseless).matcher().contains("café"))
        #expect(try Pattern("a.c").matcher().matchesWhole("aéc"), "a dot is one character, not one byte")
    }

    @Test func extractsGroups() throws {
        let m = try Pattern("(\\d+)-(\\d+)?x?").matcher()
        #expect(try m.extract("id 12-34 and 5-6", group: 0) == "12-34")
        #expect(try m.extract("id 12-34", group: 2) == "34")
        #expect(try m.extract("12-x", group: 2) == "")
        #expect(try m.extract("none", group: 1) == "")
        #expect(try m.extract("1-2", group: 3) == "", "no such group: empty, as DuckDB")
        #expect(throws: PatternError.self) { try m.extract("1-2", group: -1) }
    }

    @Test func replacesFirstOrEveryMatch() throws {
        let m = try Pattern("(a)(b)?").matcher()
        #expect(try m.replace("xabyab", with: "[\\2\\1]", global: false) == "x[ba]yab")
        #expect(try m.replace("xabya", with: "[\\2\\1]", global: true) == "x[ba]y[a]")
        #expect(try m.replace("aa", with: "\\\\", global: true) == "\\\\")
        #expect(try Pattern("x*").matcher().replace("abc", with: "-", global: true) == "-a-b-c-")
        #expect(try Pattern("").matcher().replace("né", with: "|", global: true) == "|n|é|", "empty matches step over whole characters")
        #expect(throws: PatternError.self) { try m.replace("ab", with: "\\5", global: false) }
    }

    @Test func badPatternsAreErrorsWithTheirPlace() {
        #expect { try Pattern("a(b") } throws: { e in "\(e)".contains("missing closing parenthesis") && "\(e)".contains("offset 3") }
        #expect(throws: PatternError.self) { try Pattern("[z-a]") }
        #expect(throws: PatternError.self) { try Pattern("\\") }
    }

    @Test func literalOptionTakesTheTextAsItIs() throws {
        #expect(try Pattern("a.c", options: .literal).matcher().contains("xa.cx"))
        #expect(try !Pattern("a.c", options: .literal).matcher().contains("abc"))
    }
}
