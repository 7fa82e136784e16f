import Testing
@testable import FinchLang

@Test func arithmeticAndPrinting() throws {
    #expect(try run("print(1 + 2 * 3, 7 // 2, -7 // 2, 7 % 3, -7 % 3, 2 ** 10, 7 / 2)") == "7 3 -4 1 2 1024 3.5\n")
    #expect(try run("print(0.1 + 0.2, 2e-4, 1e16, 1.0, 3.0 * 2)") == "0.30000000000000004 0.0002 1e+16 1.0 6.0\n")
    #expect(try run("print([1, 'a', none, true, {\"k\": [1.5]}])") == "[1, \"a\", none, true, {\"k\": [1.5]}]\n")
    #expect(try run("print(none, true, false)") == "none true false\n")
}

@Test func controlFlowAndFunctions() throws {
    let src = """
    def fib(n):
        if n < 2:
            return n
        return fib(n - 1) + fib(n - 2)
    out = []
    for i in range(10):
        if i == 8:
            break
        elif i % 2 == 1:
            continue
        else:
            out.append(fib(i))
    print(out)
    n = 0
    while n < 5:
        n += 1
    print(n)
    """
    #expect(try run(src) == "[0, 1, 3, 8]\n5\n")
}

@Test func defaultsKeywordsAndLambdas() throws {
    let src = """
    def greet(name, greeting="hello", punct="!"):
        return f"{greeting}, {name}{punct}"
    print(greet("ada"))
    print(greet("ada", punct="?", greeting="hi"))
    double = lambda x: x * 2
    print(list(map_(double, [1, 2, 3])) if false else [double(x) for x in [1, 2, 3]])
    print(sorted(["bb", "a", "ccc"], key=lambda s: len(s), reverse=true))
    """
    #expect(try run(src) == "hello, ada!\nhi, ada?\n[2, 4, 6]\n[\"ccc\", \"bb\", \"a\"]\n")
}

@Test func listsHaveReferenceSemantics() throws {
    #expect(try run("a = [1]\nb = a\nb.append(2)\nprint(a, a is b, a == [1, 2])") == "[1, 2] true true\n")
    #expect(try run("d = {}\ne = d\ne['x'] = 1\nprint(d)") == "{\"x\": 1}\n")
}

@Test func dictsKeepInsertionOrder() throws {
    let src = """
    d = {"b": 1, "a": 2}
    d["c"] = 3
    d.pop("b")
    d["b"] = 4
    print(d, d.keys(), d.get("zz", 0), "a" in d)
    for k, v in d.items():
        print(k, v)
    """
    #expect(try run(src) == "{\"a\": 2, \"c\": 3, \"b\": 4} [\"a\", \"c\", \"b\"] 0 true\na 2\nc 3\nb 4\n")
}

@Test func fStringsWithFormatSpecs() throws {
    let src = #"""
    x = 3.14159
    n = 1234567
    s = "hi"
    print(f"{x:.3f}|{n:,}|{s:>5}|{s!r}|{s:<4}|{x:8.2f}|{n:_}|{0.256:.1%}|{42:05d}|{255:x}|{1e-7:.2e}")
    print(f"{{literal}} {n + 1} {'nested'} {[1, 2][0]}")
    print("{} and {name:>3}".format(1, name="x"))
    """#
    #expect(try run(src) == "3.142|1,234,567|   hi|\"hi\"|hi  |    3.14|1_234_567|25.6%|00042|ff|1.00e-07\n{literal} 1234568 nested 1\n1 and   x\n")
}

@Test func stringsEscapesAndTripleQuotes() throws {
    let src = #"""
    s = "tab\tquote\" \u00e9 \uD83D\uDE00"
    print(s)
    t = """line one
    line two"""
    print(t.splitlines())
    print('single \'q\'')
    """#
    #expect(try run(src) == "tab\tquote\" é 😀\n[\"line one\", \"line two\"]\nsingle 'q'\n")
}

@Test func stringMethods() throws {
    let src = """
    s = "  Hello, World  "
    print(s.strip(), s.lower().strip(), s.upper().strip())
    print("a,b,,c".split(","), " a  b ".split(), "-".join(["x", "y"]))
    print("abc".replace("b", "B"), "abc".startswith("ab"), "abc".endswith(["x", "c"]), "abcb".find("b"), "abc".find("z"))
    print("x"[0], "hello"[1:3], "hello"[::-1], len("héllo"))
    """
    #expect(try run(src) == "Hello, World hello, world HELLO, WORLD\n[\"a\", \"b\", \"\", \"c\"] [\"a\", \"b\"] x-y\naBc true true 1 -1\nx el olleh 5\n")
}

@Test func listMethodsAndSlicing() throws {
    let src = """
    xs = [3, 1, 2]
    xs.sort()
    xs.extend([5, 4])
    xs.insert(0, 9)
    print(xs, xs.pop(), xs.pop(0), xs.index(2), xs)
    xs.reverse()
    print(xs, xs[-1], xs[1:], xs[:-1], xs[::2])
    a, b = [1, 2]
    a, b = b, a
    print(a, b)
    print([x * x for x in range(6) if x % 2 == 0], {k: len(k) for k in ["a", "bb"]})
    """
    #expect(try run(src) == "[1, 2, 3, 5] 4 9 1 [1, 2, 3, 5]\n[5, 3, 2, 1] 1 [3, 2, 1] [5, 3, 2] [5, 2]\n2 1\n[0, 4, 16] {\"a\": 1, \"bb\": 2}\n")
}

@Test func builtinsBehaveLikePython() throws {
    let src = """
    print(len([1, 2]), min(3, 1, 2), max([1, 5, 2]), sum([1, 2, 3]), round(2.5), round(3.14159, 2))
    print(str(12) + "!", int("42"), float("1.5"), bool(""), type(1.0), type([]))
    print(enumerate(["a", "b"]), zip([1, 2, 3], ["x", "y"]), range(2, 10, 3))
    print(json({"a": [1, 2.5, none, true], "b": "q\\"x"}))
    print(any([0, 1]), all([1, 0]), abs(-3))
    """
    #expect(try run(src) == "2 1 5 6 2 3.14\n12! 42 1.5 false float list\n[[0, \"a\"], [1, \"b\"]] [[1, \"x\"], [2, \"y\"]] [2, 5, 8]\n{\"a\":[1,2.5,null,true],\"b\":\"q\\\"x\"}\ntrue false 3\n")
}

@Test func closuresSeeTheirDefiningScope() throws {
    let src = """
    def adder(n):
        return lambda x: x + n
    add3 = adder(3)
    print(add3(4))
    """
    #expect(try run(src) == "7\n")
}

@Test func unpackingArgumentsAndAssert() throws {
    let src = """
    def f(a, b, lr=0.1):
        return [a, b, lr]
    args = [1, 2]
    opts = {"lr": 0.5}
    print(f(*args, **opts), max(*[3, 9, 4]))
    assert len(args) == 2, "two args"
    """
    #expect(try run(src) == "[1, 2, 0.5] 9\n")
    #expect(errorText("x = 3\nassert x > 5, f\"x is {x}\"")!.contains("test:2:8: error: assertion failed: x is 3"))
    #expect(errorText("import torch")!.contains("Finch has no 'import'"))
}
