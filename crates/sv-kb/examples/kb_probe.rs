//! Prints the top hits for each query given on the command line (a probe for tuning).
//! `cargo run -p sv-kb --example kb_probe -- "lsass memory dump" "sysmon process creation"`
//! With `KB_CACHE=DIR` the on-disk index cache is used (build on first run, open after).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = sv_data::DataDir::resolve(None)?;
    let t = std::time::Instant::now();
    let cache = std::env::var_os("KB_CACHE").map(std::path::PathBuf::from);
    let kb = sv_kb::Kb::open_data_dir(&data, cache.as_deref())?;
    eprintln!("open {:?} {:?}", t.elapsed(), kb.open_stats());
    for q in std::env::args().skip(1) {
        let t = std::time::Instant::now();
        let hits = kb.search(
            &q,
            std::env::var("N")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(5),
        )?;
        println!("== {q}  ({:?})", t.elapsed());
        for h in hits {
            println!(
                "  {:7.3} {:?} {} | {} | {:?}",
                h.score, h.kind, h.id, h.title, h.logsource
            );
        }
    }
    Ok(())
}
