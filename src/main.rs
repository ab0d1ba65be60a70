//! `byoc`: the operator's command line; everything lives in the library (`byoc::cli`).

fn main() -> std::process::ExitCode {
    byoc::cli::main()
}
