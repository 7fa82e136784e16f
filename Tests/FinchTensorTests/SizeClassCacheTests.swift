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

    /// The host pool's rule: past the cap, freed blocks are still kept while the pool would hold (in use
    /// and cached) no more than twice what was ever in use at once: a training step's activations, and
    /// the blocks of other classes it takes while those sit in the cache (its gradients), taken again
    /// next step.
    @Test func highWaterRuleKeepsAStepsBlocksOnlyWhenAskedFor() {
        var c = SizeClassCache<Int>(maxCachedBytes: 512, keepsUpToHighWater: true)
        _ = c.take(384); _ = c.take(384)
        #expect(c.highWater == 768)
        let kept = (c.give(1, 384), c.give(2, 384))
        #expect(kept.0 && kept.1)                  // 768 cached ≤ the 768 once in use
        _ = c.take(640)                            // another class while the step's blocks are cached
        #expect(c.highWater == 768)
        let third = c.give(3, 640)
        #expect(third)                             // 768 + 640 held ≤ twice the mark: kept for the next step
        _ = c.take(1024)                           // a third class: 2432 held, in use 1024
        let fourth = c.give(4, 1024)
        #expect(!fourth && c.cachedBytes == 1408)  // 1408 + 1024 would exceed twice the 1024 mark
        var plain = SizeClassCache<Int>(maxCachedBytes: 512)
        _ = plain.take(384); _ = plain.take(384)
        #expect(plain.give(1, 384) && !plain.give(2, 384))  // without the rule: the cap alone
    }
}
