fn main() -> std::process::ExitCode {
    volcv::cli::main()
}
