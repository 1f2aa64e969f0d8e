//! Golden token ids of the embedded model's tokenizer, built from the real GGUF.
//!
//! candle/tokenizers map the GGUF pre-tokenizer `smollm` wrongly; ours is Digits
//! (one digit per token) + ByteLevel. These ids were read off the SmolLM2 vocabulary;
//! a wrong pre-tokenizer merges digits ("2024" as one or two tokens) and fails here.
//! Needs the weights: `scripts/setup` (or `sv model setup`) installs them.

use candle_core::quantized::gguf_file;
use sv_models::embedded::tokenizer::SmolTokenizer;
use sv_models::embedded::weights::default_weights_path;

fn tokenizer() -> SmolTokenizer {
    let path = default_weights_path();
    let mut file = std::fs::File::open(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run scripts/setup to install the embedded model",
            path.display()
        )
    });
    let ct = gguf_file::Content::read(&mut file).expect("readable GGUF");
    SmolTokenizer::from_gguf(&ct).expect("tokenizer from GGUF metadata")
}

#[test]
fn golden_token_ids() {
    let t = tokenizer();
    let cases: [(&str, &[u32]); 3] = [
        ("Hello, world!", &[19556, 28, 905, 17]),
        (
            "in 2024 there were 12345 events",
            &[
                254, 216, 34, 32, 34, 36, 665, 592, 216, 33, 34, 35, 36, 37, 2466,
            ],
        ),
        (
            "EventID: 4624\n",
            &[13962, 2238, 42, 216, 36, 38, 34, 36, 198],
        ),
    ];
    for (text, want) in cases {
        let got = t.encode(text).unwrap();
        assert_eq!(got, want, "{text:?}");
        assert_eq!(t.decode(&got), text, "round trip of {text:?}");
    }
}
