import FinchModels

// Training data preparation: dataset rows (their text, and where a prompt style says the response
// begins) → token ids and labels, the prompt masked out of the loss when asked. Batching and packing
// of the examples is `Batcher` (Batching.swift).

/// Which tokens of a row carry the loss (`train(train_on=…)`).
public enum TrainOn: String, Sendable, CaseIterable {
    /// The response only when the row marks where it starts (rows mapped through a prompt style), else every token.
    case auto
    case all
    /// The response only; every row must mark where it starts.
    case responses
}

/// One row's training text and, for rows rendered by a prompt style, where the response begins
/// (in characters: the `_response_start` column that `data.map(style)` adds).
public struct TrainText: Equatable, Sendable {
    public var text: String
    public var responseStart: Int?

    public init(_ text: String, responseStart: Int? = nil) {
        self.text = text
        self.responseStart = responseStart
    }
}

public enum TrainDataError: Error, Equatable, CustomStringConvertible {
    case noResponseMarker(row: Int)
    case responseStartOutsideText(row: Int, start: Int, length: Int)

    public var description: String {
        switch self {
        case let .noResponseMarker(row):
            return "train_on=\"responses\" needs rows mapped through a prompt style (data.map(style)); row \(row) has no response marker"
        case let .responseStartOutsideText(row, start, length):
            return "row \(row) has _response_start \(start), outside its text (0...\(length)); map the rows through a prompt style (data.map(style)) instead of setting it by hand"
        }
    }
}

public enum TrainData {
    /// Token ids and labels for each row: BOS when the tokenizer adds one; the prompt and the response
    /// tokenized apart (so the mask falls on a token boundary) and the prompt's labels -100 unless
    /// `trainOn` is `.all`; EOS after a prompt-style row that does not end with it, so the model learns to stop.
    public static func examples(_ rows: [TrainText], tokenizer: Tokenizer, eosId: Int?, trainOn: TrainOn) throws -> [TrainExample] {
        try rows.enumerated().map { i, row in
            let text = row.text
            if trainOn == .responses && row.responseStart == nil { throw TrainDataError.noResponseMarker(row: i) }
            if let start = row.responseStart, !(0...text.count).contains(start) {
                throw TrainDataError.responseStartOutsideText(row: i, start: start, length: text.count)
            }
            var ids: [Int32] = []
            if tokenizer.addBosToken, let b = tokenizer.bosTokenId { ids.append(Int32(b)) }
            var promptLength = 0
            if let start = row.responseStart, trainOn != .all {
                let cut = text.index(text.startIndex, offsetBy: start)
                ids += tokenizer.encode(String(text[..<cut])).map(Int32.init)
                promptLength = ids.count
                ids += tokenizer.encode(String(text[cut...])).map(Int32.init)
            } else {
                ids += tokenizer.encode(text).map(Int32.init)
            }
            if row.responseStart != nil, let eosId, ids.last != Int32(eosId) { ids.append(Int32(eosId)) }
            return promptLength > 0 ? TrainExample(ids: ids, responseStart: promptLength) : TrainExample(ids: ids)
        }
    }

    /// The id that pads short rows of a batch (their labels are -100, so its value never reaches the loss).
    public static func padId(tokenizer: Tokenizer, eosIds: [Int]) -> Int32 {
        Int32(tokenizer.padTokenId ?? eosIds.first ?? 0)
    }
}
