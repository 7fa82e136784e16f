import Testing
@testable import FinchNotebook

@Test func FinchNotebookBuilds() {
    #expect(1 + 1 == 2)
}
