import Testing
@testable import FinchTrain

@Test func FinchTrainBuilds() {
    #expect(1 + 1 == 2)
}
