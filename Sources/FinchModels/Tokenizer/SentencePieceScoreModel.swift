/// SentencePiece BPE as llama.cpp runs it for GGUF `tokenizer.ggml.model = "llama"`: start from UTF-8
/// characters, repeatedly merge the adjacent pair whose concatenation is a vocabulary piece with the highest
/// score (leftmost on ties), then emit pieces, falling back to `<0xNN>` byte tokens for unknown characters.
final class SentencePieceScoreModel: @unchecked Sendable {
    let vocab: Vocabulary
    let scores: [Float]
    let byteFallbackIds: [Int32]
    let unkId: Int?

    init(tokens: [String], scores: [Float], unkId: Int?) {
        var v: Vocabulary = [:]
        v.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where v[TokenKey(t)] == nil { v[TokenKey(t)] = i }
        vocab = v
        self.scores = scores.count == tokens.count ? scores : [Float](repeating: 0, count: tokens.count)
        byteFallbackIds = (0..<256).map { Int32(v[TokenKey(String(format: "<0x%02X>", $0))] ?? -1) }
        self.unkId = unkId
    }

    /// `text` has already had spaces replaced by U+2581 (and the prefix added).
    func tokenize(_ text: [Unicode.Scalar], into out: inout [Int]) {
        let n = text.count
        guard n > 0 else { return }
        var pieces: [String] = text.map { String(Character($0)) }
        var next = [Int](0..<n).map { $0 + 1 }
        var prev = [Int](0..<n).map { $0 - 1 }
        var alive = [Bool](repeating: true, count: n)

        var heap = BinaryHeap<Candidate>()
        func push(_ i: Int, _ j: Int) {
            guard let id = vocab[TokenKey(pieces[i] + pieces[j])] else { return }
            heap.push(Candidate(score: scores[id], pos: i, left: pieces[i], right: pieces[j]))
        }

        for i in 0..<(n - 1) { push(i, i + 1) }
        while let top = heap.pop() {
            let i = top.pos
            guard alive[i], pieces[i].utf8.elementsEqual(top.left.utf8) else { continue }
            let j = next[i]
            guard j < n, pieces[j].utf8.elementsEqual(top.right.utf8) else { continue }
            pieces[i] += pieces[j]
            alive[j] = false
            next[i] = next[j]
            if next[j] < n { prev[next[j]] = i }
            if prev[i] >= 0 { push(prev[i], i) }
            if next[i] < n { push(i, next[i]) }
        }
        var i = 0
        while i < n {
            if let id = vocab[TokenKey(pieces[i])] {
                out.append(id)
            } else {
                for b in pieces[i].utf8 {
                    let id = byteFallbackIds[Int(b)]
                    if id >= 0 { out.append(Int(id)) } else if let unk = unkId { out.append(unk) }
                }
            }
            i = next[i]
        }
    }

    /// A candidate merge of the pieces at `pos` and the next one: highest score first, leftmost on ties.
    struct Candidate: HeapOrdered {
        var score: Float, pos: Int, left: String, right: String

        static func precedes(_ a: Candidate, _ b: Candidate) -> Bool {
            a.score != b.score ? a.score > b.score : a.pos < b.pos
        }
    }
}
