//! The `trackgate` binary: everything it does is in [`trackgate::cli`].

fn main() -> std::process::ExitCode {
    trackgate::cli::main()
}
