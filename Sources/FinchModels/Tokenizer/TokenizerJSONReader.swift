#if canImport(FinchSupport)
import FinchSupport
#endif

/// A JSON object as its members in file order, looked up byte for byte with the last duplicate winning
/// (as `JSON`'s subscript): tokenizer files are read with `JSON.ParseOptions.lenient`.
struct JSONObject {
    var pairs: [(key: String, value: JSON)]

    var count: Int { pairs.count }

    subscript(key: String) -> JSON? {
        get {
            for p in pairs.reversed() where p.key.utf8.elementsEqual(key.utf8) { return p.value }
            return nil
        }
        set {
            pairs.removeAll { $0.key.utf8.elementsEqual(key.utf8) }
            if let newValue { pairs.append((key: key, value: newValue)) }
        }
    }

    var value: JSON { .object(pairs.map { ($0.key, $0.value) }) }
}

/// Typed access with errors naming the file and the key path.
struct TokenizerFileReader {
    let file: String

    func parse(_ bytes: [UInt8]) throws -> JSON {
        do {
            let v = try JSON.parse(bytes, options: .lenient)
            guard case .object = v else { throw TokenizerError.wrongType(file: file, path: "(top level)", expected: "an object") }
            return v
        } catch let e as JSONError {
            throw TokenizerError.invalidJSON(file: file, reason: "\(e.message) at byte \(e.offset)")
        }
    }

    func isNull(_ v: JSON?) -> Bool { v == nil || v == .null }

    func object(_ v: JSON?, _ path: String) throws -> JSONObject {
        guard let v, v != .null else { throw TokenizerError.missingKey(file: file, path: path) }
        guard case .object(let o) = v else { throw TokenizerError.wrongType(file: file, path: path, expected: "an object") }
        return JSONObject(pairs: o.map { (key: $0.0, value: $0.1) })
    }

    func array(_ v: JSON?, _ path: String) throws -> [JSON] {
        guard let v, v != .null else { throw TokenizerError.missingKey(file: file, path: path) }
        guard case .array(let a) = v else { throw TokenizerError.wrongType(file: file, path: path, expected: "an array") }
        return a
    }

    func string(_ v: JSON?, _ path: String) throws -> String {
        guard let v, v != .null else { throw TokenizerError.missingKey(file: file, path: path) }
        guard case .string(let s) = v else { throw TokenizerError.wrongType(file: file, path: path, expected: "a string") }
        return s
    }

    func optionalString(_ v: JSON?, _ path: String) throws -> String? {
        isNull(v) ? nil : try string(v, path)
    }

    func bool(_ v: JSON?, _ path: String, default d: Bool) throws -> Bool {
        guard let v, v != .null else { return d }
        guard case .bool(let b) = v else { throw TokenizerError.wrongType(file: file, path: path, expected: "true or false") }
        return b
    }

    /// A token id: an integer in 0..<maxVocabularySize (bounds memory).
    func tokenId(_ v: JSON?, _ path: String) throws -> Int {
        guard let v, v != .null else { throw TokenizerError.missingKey(file: file, path: path) }
        guard let d = v.doubleValue else { throw TokenizerError.wrongType(file: file, path: path, expected: "an integer token id") }
        guard d.isFinite, d == d.rounded(), d >= 0, d < Double(Tokenizer.maxVocabularySize) else {
            throw TokenizerError.invalidValue(file: file, path: path, reason: "token id \(d) is not an integer in 0..<\(Tokenizer.maxVocabularySize)")
        }
        return Int(d)
    }

    func int(_ v: JSON?, _ path: String, default d: Int) throws -> Int {
        guard let v, v != .null else { return d }
        guard let x = v.doubleValue else { throw TokenizerError.wrongType(file: file, path: path, expected: "an integer") }
        guard x.isFinite, x == x.rounded(), abs(x) < 1e9 else {
            throw TokenizerError.invalidValue(file: file, path: path, reason: "\(x) is not a small integer")
        }
        return Int(x)
    }

    /// A single Unicode scalar given as a string (e.g. Metaspace's replacement).
    func scalar(_ v: JSON?, _ path: String, default d: Unicode.Scalar) throws -> Unicode.Scalar {
        guard !isNull(v) else { return d }
        let s = try string(v, path)
        guard s.unicodeScalars.count == 1, let c = s.unicodeScalars.first else {
            throw TokenizerError.invalidValue(file: file, path: path, reason: "expected exactly one character, got \"\(s)\"")
        }
        return c
    }
}
