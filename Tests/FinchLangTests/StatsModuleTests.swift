import Testing
@testable import FinchLang

@Test func stdlibStatsMatchesPythonStatistics() throws {
    let out = try run("""
    use "stats"
    xs = [2, 4, 4, 4, 5, 5, 7, 9]
    print(mean(xs), median(xs), quantile(xs, 0.25), round(stdev(xs), 6), stdev(xs, sample=false))
    print(summary([1.5, 2.5, 4.0], digits=2))
    """)
    // Python: statistics.mean → 5, median → 4.5, numpy.quantile(xs, .25) → 4.0, stdev → 2.13809, pstdev → 2.0
    #expect(out == "5.0 4.5 4.0 2.13809 2.0\nn=3 mean=2.67 sd=1.26 min=1.5 median=2.5 max=4.0\n")
    #expect(errorText("use \"stats\"\nmean([])")!.contains("assertion failed: mean() of an empty list"))
    #expect(errorText("use \"stats\"\nmean([])")!.contains("call stack (innermost last):"))
}

@Test func nestedFormatSpecFieldsGiveAClearError() {
    #expect(errorText("n = 2\nprint(f\"{3.14159:.{n}f}\")")!.contains("a field inside a format spec is not supported"))
}
