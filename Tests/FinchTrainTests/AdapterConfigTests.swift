import Foundation
import Testing
import FinchSupport
@testable import FinchTrain

/// adapter_config.json: numbers read exactly and checked; a bad field is named, never a trap or a silent Int.min.
@Suite struct AdapterConfigTests {
    func parse(_ json: String) throws -> PEFTLoraSettings { try PEFTLoraSettings.parse(Data(json.utf8)) }

    @Test func fieldsAreReadExactlyAndChecked() throws {
        #expect(try parse(#"{"peft_type":"LORA","r":8,"lora_alpha":16,"lora_dropout":0.05,"use_rslora":true}"#)
                == PEFTLoraSettings(rank: 8, alpha: 16, dropout: 0.05, useRSLoRA: true))
        #expect(try parse(#"{"r":4}"#).alpha == 4)  // PEFT's default alpha is r... as Finch always read it
        #expect { try parse(#"{"r":1e39}"#) } throws: { "\($0)" == "r must be a whole number in 1...65536 (got 1e+39)" }
        #expect { try parse(#"{"r":2.5}"#) } throws: { "\($0)".hasPrefix("r must be a whole number") }
        #expect { try parse(#"{"r":true}"#) } throws: { "\($0)".hasPrefix("r must be a whole number") }
        #expect { try parse(#"{"lora_alpha":8}"#) } throws: { "\($0)" == "r is missing" }
        #expect { try parse(#"{"r":8,"lora_dropout":1.5}"#) } throws: { "\($0)" == "lora_dropout must be in [0, 1) (got 1.5)" }
        #expect { try parse(#"{"r":8,"lora_alpha":-1}"#) } throws: { "\($0)" == "lora_alpha must be a positive number (got -1)" }
        #expect { try parse(#"{"r":8,"use_dora":true}"#) } throws: { "\($0)" == "DoRA adapters are not supported" }
        #expect { try parse(#"[1]"#) } throws: { "\($0)" == "is not a JSON object" }
        // a wrong type is named, not silently replaced by the default
        #expect { try parse(#"{"r":8,"lora_alpha":"16"}"#) } throws: { "\($0)" == "lora_alpha must be a number" }
        #expect { try parse(#"{"r":8,"use_rslora":"yes"}"#) } throws: { "\($0)" == "use_rslora must be true or false" }
    }
}
