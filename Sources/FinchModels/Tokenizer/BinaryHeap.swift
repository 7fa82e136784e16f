/// What a `BinaryHeap` orders by: `precedes(a, b)` when `a` is to come out first.
protocol HeapOrdered {
    static func precedes(_ a: Self, _ b: Self) -> Bool
}

/// A binary heap whose `pop` returns the element that precedes all others: the merge queue of
/// both BPE tokenizers (`BPEModel`, `SentencePieceScoreModel`).
struct BinaryHeap<Element: HeapOrdered> {
    private var items: [Element] = []

    mutating func push(_ element: Element) {
        items.append(element)
        var c = items.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            if Element.precedes(items[c], items[p]) { items.swapAt(c, p); c = p } else { break }
        }
    }

    mutating func pop() -> Element? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var p = 0
            while true {
                let l = 2 * p + 1, r = l + 1
                var m = p
                if l < items.count && Element.precedes(items[l], items[m]) { m = l }
                if r < items.count && Element.precedes(items[r], items[m]) { m = r }
                if m == p { break }
                items.swapAt(p, m); p = m
            }
        }
        return first
    }
}
