use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}
#[derive(clap::Args)]
pub struct CompareArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}
#[derive(clap::Args)]
pub struct GateArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`sv report` is being built")
}
pub fn compare(_args: CompareArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`sv compare` is being built")
}
pub fn gate(_args: GateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`sv gate` is being built")
}
