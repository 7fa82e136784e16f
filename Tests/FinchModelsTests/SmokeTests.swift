import Testing
@testable import FinchModels

@Test func FinchModelsBuilds() {
    #expect(1 + 1 == 2)
}
