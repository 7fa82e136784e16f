/// Errors the engine reports. Each case carries what a user needs to see what went wrong.
public enum TensorError: Error, Equatable, CustomStringConvertible {
    /// Two operands' shapes do not fit the operation.
    case shapeMismatch(op: String, lhs: [Int], rhs: [Int])
    /// An operand has the wrong rank or a bad dimension.
    case invalidShape(op: String, shape: [Int], expected: String)
    /// The operation does not support an operand stored in this type.
    case unsupportedDType(op: String, dtype: DType)
    /// A value (index, token id, count) is out of range.
    case outOfRange(op: String, value: Int, range: Range<Int>)
    /// The element count does not match the data given.
    case countMismatch(op: String, expected: Int, got: Int)
    /// Backward was called on a tensor that does not require a gradient or is not a scalar.
    case backward(String)
    /// Memory could not be allocated.
    case outOfMemory(bytes: Int)

    public var description: String {
        switch self {
        case let .shapeMismatch(op, lhs, rhs): return "\(op): shapes \(lhs) and \(rhs) do not match"
        case let .invalidShape(op, shape, expected): return "\(op): shape \(shape) is invalid (expected \(expected))"
        case let .unsupportedDType(op, dtype): return "\(op): operands stored as \(dtype) are not supported"
        case let .outOfRange(op, value, range): return "\(op): \(value) is outside \(range.lowerBound)..<\(range.upperBound)"
        case let .countMismatch(op, expected, got): return "\(op): expected \(expected) elements, got \(got)"
        case let .backward(message): return "backward: \(message)"
        case let .outOfMemory(bytes): return "out of memory allocating \(bytes) bytes"
        }
    }
}
