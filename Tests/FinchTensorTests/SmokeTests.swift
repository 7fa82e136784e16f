import Testing
@testable import FinchTensor

@Test func FinchTensorBuilds() {
    #expect(1 + 1 == 2)
}
