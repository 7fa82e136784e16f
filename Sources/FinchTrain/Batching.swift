import FinchModels

/// One training sequence: token ids and the labels to predict (-100: no loss), aligned with ids.
public struct TrainExample: Equatable, Sendable {
    public var ids: [Int32]
    public var labels: [Int32]

    public init(ids: [Int32], labels: [Int32]) {
        self.ids = ids
        self.labels = labels
    }

    /// Loss on every token.
    public init(ids: [Int32]) { self.init(ids: ids, labels: ids) }

    /// Loss from token `responseStart` on (the prompt part is masked).
    public init(ids: [Int32], responseStart: Int) {
        self.init(ids: ids, labels: ids.enumerated().map { $0.offset < responseStart ? -100 : $0.element })
    }

    /// Tokens that count toward the loss (a label after the first position).
    public var targetCount: Int { labels.dropFirst().reduce(0) { $0 + ($1 == -100 ? 0 : 1) } }
}

/// A padded micro-batch: `batch` rows of `seqLen` tokens.
public struct Batch: Sendable {
    public var ids: [Int32]
    public var labels: [Int32]
    public var batch: Int
    public var seqLen: Int
    /// Real (non-padding) tokens.
    public var tokens: Int
    /// Tokens that count toward the loss after the causal shift.
    public var targets: Int
}

/// Turns examples into micro-batches: truncated to `maxSeqLength`, padded to the longest row
/// (labels -100 on padding), or packed into full rows.
public struct Batcher: Sendable {
    public var batchSize: Int
    public var maxSeqLength: Int
    public var padId: Int32
    public var packing: Bool

    public init(batchSize: Int, maxSeqLength: Int, padId: Int32, packing: Bool) {
        self.batchSize = batchSize
        self.maxSeqLength = maxSeqLength
        self.padId = padId
        self.packing = packing
    }

    /// Examples truncated, or concatenated and cut into full rows when packing.
    public func rows(_ examples: [TrainExample]) -> [TrainExample] {
        if !packing {
            return examples.map { TrainExample(ids: Array($0.ids.prefix(maxSeqLength)), labels: Array($0.labels.prefix(maxSeqLength))) }
        }
        var ids: [Int32] = [], labels: [Int32] = []
        for e in examples { ids += e.ids; labels += e.labels }
        return stride(from: 0, to: ids.count, by: maxSeqLength).map { s in
            let e = min(ids.count, s + maxSeqLength)
            return TrainExample(ids: Array(ids[s..<e]), labels: Array(labels[s..<e]))
        }
    }

    public func batch(_ rows: ArraySlice<TrainExample>) -> Batch {
        let t = rows.map(\.ids.count).max() ?? 1
        var ids: [Int32] = [], labels: [Int32] = []
        ids.reserveCapacity(rows.count * t)
        var tokens = 0, targets = 0
        for r in rows {
            let pad = t - r.ids.count
            ids += r.ids + [Int32](repeating: padId, count: pad)
            labels += r.labels + [Int32](repeating: -100, count: pad)
            tokens += r.ids.count
            targets += r.targetCount
        }
        return Batch(ids: ids, labels: labels, batch: rows.count, seqLen: t, tokens: tokens, targets: targets)
    }
}
