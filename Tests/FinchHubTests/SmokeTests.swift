import Testing
@testable import FinchHub

@Test func FinchHubBuilds() {
    #expect(1 + 1 == 2)
}
