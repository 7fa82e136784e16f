// Placeholder until the block formats land (one struct per format beside this file).
@usableFromInline
func dequantizeBlocks(_ dtype: DType, _ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    preconditionFailure("block format \(dtype) not implemented yet")
}
