//! `sv data build sigma [--out DIR]`: the SigmaForge data set (sv-env-sigma does the work).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use sv_env_sigma::build::{build_dataset, Rewriter};
use sv_env_sigma::dataset::BuildOptions;

#[derive(clap::Args)]
pub struct Args {
    /// The data set to build (only `sigma` so far).
    #[arg(value_parser = ["sigma"])]
    pub dataset: String,
    /// Output folder (default: <cache>/datasets/sigma, where the environment looks).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Data folder (default: SV_DATA, then ../shared/data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Leave out rules matching fewer deduplicated events (curriculum / de-skew).
    #[arg(long, default_value_t = 1)]
    pub min_matches: u64,
    /// Leave out rules matching more deduplicated events.
    #[arg(long)]
    pub max_matches: Option<u64>,
    /// Paraphrase each primary question with a model (`embedded`, `openai:MODEL@URL`);
    /// recorded in the manifest. Paraphrases that fail the leakage check are not used.
    #[arg(long)]
    pub rewrite_with: Option<String>,
}

struct ModelRewriter {
    model: Arc<dyn sv_models::ChatModel>,
}

impl Rewriter for ModelRewriter {
    fn name(&self) -> String {
        self.model.name().to_string()
    }
    fn rewrite(&self, question: &str) -> Result<String, String> {
        let mut req = sv_models::ChatRequest::new(vec![
            sv_models::sv_chat::Message::system(
                "Rewrite the security analyst's request below in your own words, as the same person would ask a \
                 colleague. Keep its meaning; do not add technical details, field names, file paths or commands. \
                 Answer with the rewritten request only.",
            ),
            sv_models::sv_chat::Message::user(question),
        ]);
        req.sampling.temperature = 0.0;
        req.sampling.max_tokens = 200;
        let resp = sv_models::block_on(self.model.chat(&req)).map_err(|e| e.to_string())?;
        let resp = resp.map_err(|e| e.to_string())?;
        let text = resp
            .choices
            .first()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let (answer, _) = sv_env::split_reasoning(&text);
        Ok(answer)
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let data = sv_data::DataDir::resolve(args.data.as_deref())?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(sv_env_sigma::default_dataset_dir);
    let opts = BuildOptions {
        min_matches: args.min_matches,
        max_matches: args.max_matches,
        ..Default::default()
    };
    let rewriter = match &args.rewrite_with {
        Some(spec) => {
            let spec = sv_models::ModelSpec::parse(spec)?;
            let model = sv_models::build(&spec, &sv_models::ClientConfig::default())?;
            Some(ModelRewriter { model })
        }
        None => None,
    };
    eprintln!(
        "building the SigmaForge data set from {} …",
        data.root.display()
    );
    let s = build_dataset(
        &data,
        &out,
        &opts,
        rewriter.as_ref().map(|r| r as &dyn Rewriter),
    )
    .context("sv data build sigma")?;
    let r = &s.report;
    println!(
        "SigmaForge data set v{} → {}",
        s.manifest.version,
        s.out_dir.display()
    );
    println!(
        "  rules read {}, rejected {} {:?}; fired and kept: {} tasks",
        s.rules_read,
        s.rejected.values().sum::<usize>(),
        s.rejected,
        r.tasks
    );
    println!("  left out: {:?}", r.left_out);
    for (k, v) in &r.splits {
        println!(
            "  split {k:<5} {:>4} tasks in {:>4} groups, {:>6} reference events",
            v.tasks, v.groups, v.events
        );
    }
    let l = &r.leakage;
    println!(
        "  leakage: {} questions, {} leaking; anchors across splits {}, near-duplicates across splits {}, identical across splits {}",
        l.questions, l.leaking_questions, l.anchors_across_splits, l.near_duplicates_across_splits, l.identical_across_splits
    );
    let k = &r.skew;
    println!(
        "  matched events per task: min {} median {} p90 {} max {}; share with 1–2 events {:.1} %; buckets {:?}",
        k.min,
        k.median,
        k.p90,
        k.max,
        k.share_1_2 * 100.0,
        k.by_bucket
    );
    if args.rewrite_with.is_some() {
        println!(
            "  rewritten questions: {} (rejected by the leakage check or failed: {})",
            s.rewritten, s.rewrite_rejected
        );
    }
    println!(
        "  sha256 {}  corpus {}",
        s.manifest.sha256,
        s.manifest
            .generator
            .get("corpus_sha256")
            .map_or("", String::as_str)
    );
    Ok(ExitCode::SUCCESS)
}
