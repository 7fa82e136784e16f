import Foundation
import Testing
@testable import FinchModels
import FinchSupport

/// Integers in config.json / generation_config.json are converted exactly: a huge or fractional number is
/// an error naming the key (it was Int.min in release, a trap in debug).
@Suite struct ConfigNumberTests {
    static let base: [String: Any] = [
        "model_type": "llama", "vocab_size": 64, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
        "num_attention_heads": 2, "num_key_value_heads": 1,
    ]
    func parse(_ change: [String: Any]) throws -> ModelConfig {
        try ModelConfig.fromHuggingFace(JSONSerialization.data(withJSONObject: Self.base.merging(change) { $1 }), file: "config.json")
    }
    func text(_ json: String) throws -> ModelConfig {
        try ModelConfig.fromHuggingFace(Data(json.utf8), file: "config.json")
    }

    @Test func hugeIntegersAreErrorsNamingTheKey() throws {
        let json = #"{"model_type":"llama","vocab_size":64,"hidden_size":1e39,"intermediate_size":32,"num_hidden_layers":1,"num_attention_heads":2}"#
        #expect { try text(json) } throws: { "\($0)".hasPrefix("config.json: 'hidden_size' must be a whole number no larger than \(Int.max) (got 1e") }
        let big = #"{"model_type":"llama","vocab_size":99999999999999999999,"hidden_size":16,"intermediate_size":32,"num_hidden_layers":1,"num_attention_heads":2}"#
        #expect { try text(big) } throws: { "\($0)".hasPrefix("config.json: 'vocab_size' must be a whole number") }
        #expect { try parse(["num_hidden_layers": 2.5]) } throws: { "\($0)".hasPrefix("config.json: 'num_hidden_layers' must be a whole number") }
        #expect { try parse(["num_hidden_layers": true]) } throws: { "\($0)" == "config.json: 'num_hidden_layers' must be an integer" }
        #expect { try parse(["head_dim": -1e300]) } throws: { "\($0)".hasPrefix("config.json: 'head_dim' must be a whole number") }
        #expect(try parse(["hidden_size": 16.0]).hiddenSize == 16)
    }

    /// Found by fuzz/model-config: sizes that each pass but multiply past Int.max in parameterCount.
    @Test func sizesWhoseProductOverflowsAreErrors() throws {
        #expect { try parse(["intermediate_size": 444444444444444444]) } throws: { "\($0)" == "config.json: 'sizes' are implausibly large" }
        #expect { try parse(["intermediate_size": 9_999_999, "hidden_size": 999_936, "num_hidden_layers": 9_999, "num_attention_heads": 16, "num_key_value_heads": 16]) } throws: {
            "\($0)".contains("implausibly large model")
        }
        #expect(try parse([:]).parameterCount > 0)
    }

    @Test func ropeAndTokenIdsAreCheckedToo() throws {
        let rope: [String: Any] = ["rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4,
                                   "original_max_position_embeddings": 1e30]
        #expect { try parse(["rope_scaling": rope]) } throws: { "\($0)".contains("rope_scaling.original_max_position_embeddings' must be a positive whole number") }
        // an absurd token id is ignored, never converted to Int.min
        #expect(try text(#"{"model_type":"llama","vocab_size":64,"hidden_size":16,"intermediate_size":32,"num_hidden_layers":1,"num_attention_heads":2,"eos_token_id":1e39,"bos_token_id":1e39}"#).eosTokenIds == [])
        #expect(try parse(["eos_token_id": [2, 3]]).eosTokenIds == [2, 3])
        #expect(JSON.double(1e39).intValue == nil && JSON.int(7).intValue == 7 && JSON.bool(true).intValue == nil)
    }

    /// Validation errors name the file and the field, nested fields with their parents; wrong types are
    /// errors rather than silently replaced by defaults.
    @Test func typedConfigErrorsNameFileAndField() throws {
        #expect { try parse(["rope_parameters": ["rope_type": "linear", "factor": "x"]]) } throws: {
            "\($0)" == "config.json: 'rope_parameters.factor' must be a number"
        }
        #expect { try parse(["rope_scaling": ["rope_type": "yarn", "factor": 4]]) } throws: {
            "\($0)" == "config.json: 'rope_scaling.rope_type' 'yarn' is not supported (default, linear, llama3)"
        }
        #expect { try parse(["tie_word_embeddings": "yes"]) } throws: { "\($0)" == "config.json: 'tie_word_embeddings' must be true or false" }
        #expect { try parse(["model_type": 3]) } throws: { "\($0)" == "config.json: 'model_type' must be a string" }
        #expect { try text("[1]") } throws: { "\($0)" == "config.json: must be a JSON object, not array" }
        #expect { try text(#"{"model_type": "llama""#) } throws: { "\($0)".hasPrefix("config.json: is not valid JSON") }
        // As transformers writes them: NaN is readable, null is absent.
        let c = try text(#"{"model_type":"llama","vocab_size":64,"hidden_size":16,"intermediate_size":32,"num_hidden_layers":1,"num_attention_heads":2,"head_dim":null,"rope_scaling":null,"unused":NaN}"#)
        #expect(c.headDim == 8 && c.ropeScaling == .none)
    }

    @Test func generationConfigReadsOneOrSeveralEosIds() throws {
        #expect(try GenerationConfig.fromHuggingFace(Data(#"{"eos_token_id": 2}"#.utf8), file: "g.json").eosTokenIds == [2])
        #expect(try GenerationConfig.fromHuggingFace(Data(#"{"eos_token_id": [128001, 128009], "temperature": 0.6}"#.utf8), file: "g.json").eosTokenIds == [128001, 128009])
        #expect(try GenerationConfig.fromHuggingFace(Data(#"{"do_sample": true}"#.utf8), file: "g.json").eosTokenIds == [])
        #expect { try GenerationConfig.fromHuggingFace(Data("[]".utf8), file: "g.json") } throws: { "\($0)" == "g.json: '(top level)' must be a JSON object, not array" }
    }
}
