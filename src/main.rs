fn main() {
    std::process::exit(closeout::cli::run());
}
