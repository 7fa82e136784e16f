import Testing
@testable import FinchLang

@Test func FinchLangBuilds() {
    #expect(1 + 1 == 2)
}
