// A configuration file's JSON object read field by field under Hugging Face's names (config.json,
// generation_config.json, adapter_config.json), so each config becomes a typed, validated struct
// rather than a `[String: Any]`. Every problem names the file and the field. Files are read leniently
// (as transformers writes them: NaN, duplicate keys); null counts as absent, as in transformers.
import Foundation

public struct JSONFieldError: Error, Equatable, CustomStringConvertible {
    public var file: String
    /// The field with its parents: "rope_scaling.factor"; "(top level)" for the document itself.
    public var field: String
    public var problem: String
    public init(file: String, field: String, problem: String) { self.file = file; self.field = field; self.problem = problem }
    public var description: String { "\(file): '\(field)' \(problem)" }
}

public struct JSONFields {
    public let file: String
    /// "" at the top, "rope_scaling." inside that object: the prefix of field names in errors.
    public let prefix: String
    public let json: JSON

    public init(parsing data: Data, file: String) throws {
        let v: JSON
        do { v = try JSON.parse(data, options: .lenient) } catch let e as JSONError {
            throw JSONFieldError(file: file, field: "(top level)", problem: "is not valid JSON: \(e)")
        }
        guard case .object = v else { throw JSONFieldError(file: file, field: "(top level)", problem: "must be a JSON object, not \(v.typeName)") }
        self.init(file: file, prefix: "", json: v)
    }

    init(file: String, prefix: String, json: JSON) { self.file = file; self.prefix = prefix; self.json = json }

    /// The field's value; nil when absent or null.
    public subscript(key: String) -> JSON? {
        guard let v = json[key], v != .null else { return nil }
        return v
    }

    public func error(_ key: String, _ problem: String) -> JSONFieldError {
        JSONFieldError(file: file, field: prefix + key, problem: problem)
    }

    /// A whole number (2.0 as Python may write it is 2); 2.5, 1e39 and true are errors.
    public func int(_ key: String) throws -> Int? {
        guard let v = self[key] else { return nil }
        if let i = v.intValue { return i }
        if case .double = v { throw error(key, "must be a whole number no larger than \(Int.max) (got \(v))") }
        throw error(key, "must be an integer")
    }

    public func requiredInt(_ key: String) throws -> Int {
        guard let i = try int(key) else { throw error(key, "is missing") }
        return i
    }

    public func double(_ key: String) throws -> Double? {
        guard let v = self[key] else { return nil }
        guard let d = v.doubleValue else { throw error(key, "must be a number") }
        return d
    }

    public func string(_ key: String) throws -> String? {
        guard let v = self[key] else { return nil }
        guard let s = v.stringValue else { throw error(key, "must be a string") }
        return s
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let v = self[key] else { return nil }
        guard let b = v.boolValue else { throw error(key, "must be true or false") }
        return b
    }

    public func strings(_ key: String) throws -> [String]? {
        guard let v = self[key] else { return nil }
        guard let a = v.arrayValue, let s = Optional(a.compactMap(\.stringValue)), s.count == a.count else {
            throw error(key, "must be a list of strings")
        }
        return s
    }

    public func object(_ key: String) throws -> JSONFields? {
        guard let v = self[key] else { return nil }
        guard case .object = v else { throw error(key, "must be an object") }
        return JSONFields(file: file, prefix: prefix + key + ".", json: v)
    }

    /// Token ids as transformers allows them: one id or a list (several eos_token_id). Anything else
    /// (a fraction, an id beyond Int) is ignored, never converted to a wrong id.
    public func tokenIds(_ key: String) -> [Int] {
        if let i = self[key]?.intValue { return [i] }
        guard let a = self[key]?.arrayValue else { return [] }
        let ids = a.compactMap(\.intValue)
        return ids.count == a.count ? ids : []
    }
}
