import Testing
@testable import FinchTensor

/// The size-class cache the CPU pool and the CUDA allocator share.
@Suite struct SizeClassCacheTests {
    @Test func reusesByClassAndCounts() {
        var c = SizeClassCache<Int>(maxCachedBytes: 1000)
        let s = SizeClassCache<Int>.sizeClass(300)
        #expect(s == SizeClassCache<Int>.sizeClass(310) && s >= 310)
        let first = c.take(s)
        #expect(first == nil)                     // empty: the owner allocates
        #expect(c.bytesInUse == s && c.peakBytesInUse == s)
        let kept = c.give(7, s)
        #expect(kept && c.cachedBytes == s && c.bytesInUse == 0)
        let injected = c.take(s, reuse: false)    // an injected failure does not take from the cache
        #expect(injected == nil && c.bytesInUse == s)
        c.forget(s)
        let reused = c.take(s)
        #expect(reused == 7 && c.cachedBytes == 0)
        let other = c.take(SizeClassCache<Int>.sizeClass(5000))  // another class
        #expect(other == nil && c.peakBytesInUse == c.bytesInUse)
        _ = c.give(7, s)
        c.resetPeak()
        #expect(c.peakBytesInUse == c.bytesInUse && c.bytesInUse == SizeClassCache<Int>.sizeClass(5000))
    }

    @Test func fullCacheHandsBlocksBackAndDrainEmptiesIt() {
        var c = SizeClassCache<Int>(maxCachedBytes: 512)
        _ = c.take(384); _ = c.take(384)
        let first = c.give(1, 384), second = c.give(2, 384)
        #expect(first && !second)                 // over the cap: the owner frees it
        #expect(c.bytesInUse == 0 && c.cachedBytes == 384)
        let drained = c.drain()
        let after = c.take(384)
        #expect(drained == [1] && c.cachedBytes == 0 && after == nil)
    }

    /// The host pool's rule: past the cap, freed blocks are still kept while the cache would hold no
    /// more than was ever in use at once (a training step's activations, taken again next step).
    @Test func highWaterRuleKeepsAStepsBlocksOnlyWhenAskedFor() {
        var c = SizeClassCache<Int>(maxCachedBytes: 512, keepsUpToHighWater: true)
        _ = c.take(384); _ = c.take(384)
        #expect(c.highWater == 768)
        let kept = (c.give(1, 384), c.give(2, 384))
        #expect(kept.0 && kept.1)                  // 768 cached ≤ the 768 once in use
        _ = c.take(1024)                           // another class: not cached, in use 1024
        #expect(c.highWater == 1024)
        let third = c.give(3, 1024)
        #expect(!third)                            // 768 + 1024 cached would exceed the mark
    }
}
