import Foundation

/// BPE over symbol ids: byte-level (GPT-2 family) or character-level with byte fallback (SentencePiece family).
final class BPEModel: @unchecked Sendable {
    let vocab: Vocabulary
    /// Packed pair (left << 32 | right) → packed (rank << 32 | merged id).
    let merges: [UInt64: UInt64]
    let byteLevel: Bool
    let ignoreMerges: Bool
    let byteFallback: Bool
    let fuseUnk: Bool
    let unkId: Int?
    /// Byte-level: byte → id of its mapped character token (-1 if absent).
    let byteSymbolIds: [Int32]
    /// Byte fallback: byte → id of `<0xNN>` (-1 if absent).
    let byteFallbackIds: [Int32]

    private let cacheLock = NSLock()
    private var cache: [TokenKey: [Int]] = [:]
    private let cacheLimit = 200_000

    init(vocab: Vocabulary, mergePairs: [(String, String)], byteLevel: Bool, ignoreMerges: Bool,
         byteFallback: Bool, fuseUnk: Bool, unkToken: String?) {
        self.vocab = vocab
        self.byteLevel = byteLevel
        self.ignoreMerges = ignoreMerges
        self.byteFallback = byteFallback
        self.fuseUnk = fuseUnk
        self.unkId = unkToken.flatMap { vocab[TokenKey($0)] }
        var m: [UInt64: UInt64] = [:]
        m.reserveCapacity(mergePairs.count)
        for (rank, (a, b)) in mergePairs.enumerated() {
            // Merges whose parts or result are not in the vocabulary can never apply.
            guard let ia = vocab[TokenKey(a)], let ib = vocab[TokenKey(b)], let ic = vocab[TokenKey(a + b)],
                  ia >= 0, ib >= 0, ic >= 0, ia <= Int(UInt32.max), ib <= Int(UInt32.max) else { continue }
            let key = UInt64(ia) << 32 | UInt64(ib)
            if m[key] == nil { m[key] = UInt64(rank) << 32 | UInt64(ic) }
        }
        merges = m
        byteSymbolIds = (0..<256).map { b in
            Int32(vocab[TokenKey(String(Character(ByteLevelTable.byteToScalar[b])))] ?? -1)
        }
        byteFallbackIds = (0..<256).map { b in
            Int32(vocab[TokenKey(String(format: "<0x%02X>", b))] ?? -1)
        }
    }

    /// Tokenizes one pre-token (its scalars, before byte mapping) and appends the ids.
    func tokenize(_ piece: ArraySlice<Unicode.Scalar>, into out: inout [Int]) {
        var key = String.UnicodeScalarView()
        if byteLevel {
            for s in piece {
                for b in UTF8.encode(s)! { key.append(ByteLevelTable.byteToScalar[Int(b)]) }
            }
        } else {
            key.append(contentsOf: piece)
        }
        let keyString = TokenKey(String(key))
        if ignoreMerges, let id = vocab[keyString] { out.append(id); return }

        cacheLock.lock()
        let hit = cache[keyString]
        cacheLock.unlock()
        if let hit { out.append(contentsOf: hit); return }

        var symbols: [Int] = []
        symbols.reserveCapacity(piece.count * 2)
        if byteLevel {
            for s in piece {
                for b in UTF8.encode(s)! {
                    let id = byteSymbolIds[Int(b)]
                    if id >= 0 { symbols.append(Int(id)) } else if let unk = unkId { appendUnk(unk, &symbols) }
                }
            }
        } else {
            for s in piece {
                if let id = vocab[TokenKey(String(Character(s)))] { symbols.append(id); continue }
                if byteFallback {
                    let bytes = Array(UTF8.encode(s)!)
                    if bytes.allSatisfy({ byteFallbackIds[Int($0)] >= 0 }) {
                        for b in bytes { symbols.append(Int(byteFallbackIds[Int(b)])) }
                        continue
                    }
                }
                if let unk = unkId { appendUnk(unk, &symbols) }
            }
        }
        let result = merge(symbols)
        // Long pieces (a page of CJK, a run of symbols) are rarely repeated: don't let them fill the cache.
        guard piece.count <= 64 else { out.append(contentsOf: result); return }
        cacheLock.lock()
        if cache.count >= cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[keyString] = result
        cacheLock.unlock()
        out.append(contentsOf: result)
    }

    private func appendUnk(_ unk: Int, _ symbols: inout [Int]) {
        if fuseUnk, symbols.last == unk { return }
        symbols.append(unk)
    }

    /// Repeatedly merges the lowest-rank adjacent pair (leftmost on ties), as `tokenizers`' `Word::merge_all`.
    func merge(_ input: [Int]) -> [Int] {
        let n = input.count
        if n < 2 { return input }
        var ids = input
        var next = [Int](0..<n).map { $0 + 1 }  // n = none
        var prev = [Int](0..<n).map { $0 - 1 }  // -1 = none
        var alive = [Bool](repeating: true, count: n)
        var heap = BinaryHeap<BPEMerge>()
        for i in 0..<(n - 1) {
            if let m = merges[UInt64(ids[i]) << 32 | UInt64(ids[i + 1])] {
                heap.push(rank: UInt32(m >> 32), pos: i, newId: Int(m & 0xFFFF_FFFF), right: ids[i + 1])
            }
        }
        while let top = heap.pop() {
            let i = top.pos
            guard alive[i] else { continue }
            let j = next[i]
            guard j < n, ids[j] == top.right,
                  let m = merges[UInt64(ids[i]) << 32 | UInt64(ids[j])], Int(m & 0xFFFF_FFFF) == top.newId,
                  UInt32(m >> 32) == top.rank else { continue }
            ids[i] = top.newId
            alive[j] = false
            let k = next[j]
            next[i] = k
            if k < n { prev[k] = i }
            let p = prev[i]
            if p >= 0, let m = merges[UInt64(ids[p]) << 32 | UInt64(ids[i])] {
                heap.push(rank: UInt32(m >> 32), pos: p, newId: Int(m & 0xFFFF_FFFF), right: ids[i])
            }
            if k < n, let m = merges[UInt64(ids[i]) << 32 | UInt64(ids[k])] {
                heap.push(rank: UInt32(m >> 32), pos: i, newId: Int(m & 0xFFFF_FFFF), right: ids[k])
            }
        }
        var out: [Int] = []
        out.reserveCapacity(n)
        var i = 0
        while i < n { out.append(ids[i]); i = next[i] }
        return out
    }
}

/// A candidate merge, lowest (rank, position) first.
struct BPEMerge: HeapOrdered {
    var rank: UInt32, pos: Int, newId: Int, right: Int

    @inline(__always) static func precedes(_ a: BPEMerge, _ b: BPEMerge) -> Bool {
        a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos
    }
}

extension BinaryHeap where Element == BPEMerge {
    mutating func push(rank: UInt32, pos: Int, newId: Int, right: Int) {
        push(BPEMerge(rank: rank, pos: pos, newId: newId, right: right))
    }
}
