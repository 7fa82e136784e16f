/// A token string compared and hashed by its exact UTF-8 bytes. Swift's `String` equality is canonical
/// equivalence ("e\u{301}" == "é"), but tokenizers compare bytes: two such tokens are different ids.
struct TokenKey: Hashable, Sendable {
    let string: String

    init(_ string: String) {
        var s = string
        s.makeContiguousUTF8()
        self.string = s
    }

    static func == (a: TokenKey, b: TokenKey) -> Bool {
        a.string.utf8.elementsEqual(b.string.utf8)
    }

    func hash(into hasher: inout Hasher) {
        var s = string
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

typealias Vocabulary = [TokenKey: Int]
