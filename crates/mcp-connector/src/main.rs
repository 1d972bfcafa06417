fn main() -> std::process::ExitCode {
    mcp_connector::cli::run()
}
