/// What each parameter of the language's own built-ins means, for `help(name)`. Returns documented names
/// that are not parameters (none, normally; a test checks).
@discardableResult
func documentCoreParameters(_ r: BuiltinRegistry) -> [String] {
    var unknown: [String] = []
    func doc(_ name: String, _ docs: KeyValuePairs<String, String>) { unknown += r.document(name, docs) }
    doc("print", ["values": "the values to print, as str() shows them", "sep": "written between the values", "end": "written after the last value"])
    doc("json", ["value": "a value made of dicts, lists, strings, numbers, bools and none", "indent": "spaces per level for readable output (none: compact)"])
    doc("parse_json", ["text": "JSON text"])
    doc("len", ["value": "a list, dict, string or dataset"])
    doc("range", ["start": "the first number, or the end when it is the only argument", "stop": "the end (not included)", "step": "the difference between numbers (negative counts down)"])
    doc("str", ["value": "any value"])
    doc("repr", ["value": "any value"])
    doc("int", ["value": "a number (truncated toward zero) or text such as \"42\" or \"ff\"", "base": "the base of text values, 2 to 36"])
    doc("float", ["value": "a number or text such as \"1e-4\", \"inf\", \"nan\""])
    doc("bool", ["value": "any value: 0, empty and none are false"])
    doc("list", ["items": "a list (copied), a dict (its keys) or a string (its characters)"])
    doc("dict", ["pairs": "a dict to copy, or a list of [key, value] pairs", "items": "keyword arguments as entries: dict(a=1)"])
    doc("type", ["value": "any value"])
    doc("sorted", ["items": "a list (or anything iterable)", "key": "a function of one item giving what to sort by", "reverse": "largest first"])
    doc("reversed", ["items": "a list (or anything iterable)"])
    doc("enumerate", ["items": "a list (or anything iterable)", "start": "the first index"])
    doc("zip", ["lists": "the lists to walk side by side"])
    for name in ["min", "max"] {
        doc(name, ["values": "several values, or one list", "key": "a function of one item giving what to compare",
                   "default": "the result for an empty list (otherwise an error)"])
    }
    doc("sum", ["items": "a list of numbers", "start": "added to the sum (the result for an empty list)"])
    doc("abs", ["x": "a number"])
    doc("round", ["x": "a number", "ndigits": "digits after the point (none: to the nearest int, halves to even)"])
    doc("any", ["items": "a list (or anything iterable)"])
    doc("all", ["items": "a list (or anything iterable)"])
    doc("format", ["value": "the value to format", "spec": "a format spec such as \".3f\", \">10\", \",\""])
    doc("env", ["name": "the environment variable", "default": "the result when it is not set"])
    doc("read_text", ["path": "the file to read"])
    doc("write_text", ["path": "the file to write (missing folders are created)", "text": "the text to write"])
    doc("dataset", ["rows": "a list of dicts, one per row"])
    doc("help", ["topic": "a built-in or function, its name as a string, or none for the list of all"])
    return unknown
}
