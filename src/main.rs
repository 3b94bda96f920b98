//! The `bulkhead` binary: a thin shell over the library's command line.

fn main() -> std::process::ExitCode {
    bulkhead::cli::main()
}
