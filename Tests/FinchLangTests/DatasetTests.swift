import Testing
@testable import FinchLang

@Test func datasetIndexingColumnsAndErrors() throws {
    let src = """
    d = dataset([{"q": "a", "n": 1}, {"q": "b"}])
    print(len(d), d.columns, d[0], d[-1], d["n"], type(d))
    row = d[0]
    row["q"] = "changed"
    print(d[0]["q"], d.num_rows, [r["q"] for r in d])
    print(d[:1].to_list(), d.take(1).columns)
    """
    #expect(try run(src) == "2 [\"q\", \"n\"] {\"q\": \"a\", \"n\": 1} {\"q\": \"b\"} [1, none] Dataset\na 2 [\"a\", \"b\"]\n[{\"q\": \"a\", \"n\": 1}] [\"q\", \"n\"]\n")
    #expect(errorText("d = dataset([{\"question\": 1}])\nd[\"questoin\"]")!.contains("dataset has no column 'questoin'; did you mean question?"))
    #expect(errorText("dataset([1, 2])")!.contains("dataset(): row 0 is an int, not a dict"))
    #expect(errorText("dataset([{\"a\": 1}]).selct([0])")!.contains("a Dataset has no attribute 'selct'; did you mean select?"))
    #expect(errorText("dataset([{\"a\": 1}]).map(lambda r: 1)")!.contains("must return a dict of columns"))
}

@Test func datasetShuffleIsDeterministicPerSeed() throws {
    let src = """
    d = dataset([{"i": i} for i in range(20)])
    a = d.shuffle(seed=3)["i"]
    b = d.shuffle(seed=3)["i"]
    c = d.shuffle(seed=4)["i"]
    print(a == b, a != c, sorted(a) == list(range(20)))
    """
    #expect(try run(src) == "true true true\n")
}

@Test func datasetPrintsAsSmallTable() throws {
    let out = try run("print(dataset([{\"text\": \"line one\\nline two\", \"label\": 1}]))")
    #expect(out == "Dataset(1 row; columns: text, label)\n#  text               label\n0  line one⏎line two  1\n")
}
